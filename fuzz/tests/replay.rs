//! Runs every file of `corpus/<target>/` (the seeds, what fuzzing kept, and the
//! reproducers of crashes found) through its target, on stable: `cargo test
//! --manifest-path fuzz/Cargo.toml --test replay`.

use std::path::Path;

#[test]
fn every_corpus_file_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut failed = Vec::new();
    for (name, target) in mcpbench_fuzz::TARGETS {
        let dir = root.join(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{}: no corpus", dir.display());
        for file in &files {
            let data = std::fs::read(file).unwrap();
            if std::panic::catch_unwind(|| target(&data)).is_err() {
                failed.push(file.display().to_string());
            }
        }
        eprintln!("{name}: {} inputs", files.len());
    }
    assert!(failed.is_empty(), "inputs that fail their target: {failed:#?}");
}
