#![cfg_attr(fuzzing, no_main)]
mcpbench_fuzz::fuzz_main!(http_request);
