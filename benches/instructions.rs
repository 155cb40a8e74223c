//! Instruction counts (callgrind) of the CPU-bound benches: the pull-request gate's
//! primary signal for them, because counts do not move with the machine's load.
//! Each workload mirrors the time bench of the same id: same fixture, same
//! operations per iteration; one iteration is counted after one warm-up
//! (`src/instructions.rs`). Writes `target/mcpbench/instructions.json`.
//!
//! `cargo bench --bench instructions` counts every workload (about a minute);
//! a filter selects some (`-- 'registry/'`); `-- --test` runs each once natively,
//! counting nothing; `-- --list` lists them.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use mcpbench::harness::Harness;
use mcpbench::instructions::{
    CHILD_ENV, INSTRUCTIONS_SCHEMA, InstructionsFile, Workload, count, run_child, valgrind_version,
};
use mcpbench::messages::{new_session, tool_call};
use mcpbench::scattered;
use mcpbench::workloads::NoopManager;
use mcpbench::workloads::SeedMix;
use mcpbench_netio::{FrameDecoder, Message, encode};
use mcpbench_pool::{Pool, PoolConfig};
use mcpbench_queue::Mailbox;
use mcpbench_registry::{InFlight, Registry, RouteKey};
use mcpbench_session::{NewSession, Session, SessionId, SessionStore};

const N: u64 = 100_000;
const SESSIONS: usize = 10_000;
const FRAME_SIZE: usize = 4096;
const CODEC_FRAMES: usize = 256;

/// Every workload, in the report's order.
const WORKLOADS: &[Workload] = &[
    Workload {
        id: "registry/register/100k",
        per_iteration: N,
        note: "",
        setup: registry_register,
    },
    Workload {
        id: "registry/lookup/100k",
        per_iteration: N,
        note: "",
        setup: registry_lookup,
    },
    Workload {
        id: "registry/route_and_drain/100k",
        per_iteration: N,
        note: "",
        setup: registry_route_and_drain,
    },
    Workload {
        id: "registry/inflight_begin_complete/100k",
        per_iteration: N,
        note: "",
        setup: registry_inflight,
    },
    Workload {
        id: "queue/push_pop/100k",
        per_iteration: N,
        note: "",
        setup: queue_push_pop,
    },
    Workload {
        id: "queue/batch64/100k",
        per_iteration: N,
        note: "",
        setup: queue_batch64,
    },
    Workload {
        id: "session/lookup_update/10kx100",
        per_iteration: SESSIONS as u64 * 100,
        note: "",
        setup: session_lookup_update,
    },
    Workload {
        id: "session/create_remove/10k",
        per_iteration: SESSIONS as u64,
        note: "",
        setup: session_create_remove,
    },
    Workload {
        id: "session/evict_idle/10k",
        per_iteration: SESSIONS as u64,
        note: "",
        setup: session_evict_idle,
    },
    Workload {
        id: "netio/codec_decode/4KiB",
        per_iteration: ((FRAME_SIZE + 1) * CODEC_FRAMES) as u64,
        note: "",
        setup: || codec_decode(false),
    },
    Workload {
        id: "netio/codec_decode_parse/4KiB",
        per_iteration: ((FRAME_SIZE + 1) * CODEC_FRAMES) as u64,
        note: "",
        setup: || codec_decode(true),
    },
    Workload {
        id: "netio/codec_encode/4KiB",
        per_iteration: ((FRAME_SIZE + 1) * CODEC_FRAMES) as u64,
        note: "",
        setup: codec_encode,
    },
    Workload {
        id: "pool/ceiling_managed_noop_1task/100k",
        per_iteration: N,
        note: "on a current-thread runtime",
        setup: pool_noop_1task,
    },
    Workload {
        id: "integrated/seed_mix/256x400",
        per_iteration: 256 * 400,
        note: "the same ops on one thread, tasks in turn (the time bench runs them on 2 workers)",
        setup: integrated_seed_mix,
    },
];

fn route_keys() -> Vec<RouteKey> {
    (0..N)
        .map(|i| RouteKey::new(&format!("tools/server_{}/tool_{i}", i % 128)))
        .collect()
}

fn registry_register() -> Box<dyn FnMut()> {
    let keys = route_keys();
    let destination = Arc::new(Mailbox::<u64>::bounded(1));
    let mut tables = Vec::new();
    Box::new(move || {
        let table = Registry::new();
        for k in &keys {
            table
                .register(k.clone(), destination.clone())
                .expect("fresh key");
        }
        // Dropped with the closure, outside the count (as Criterion drops it
        // outside the clock).
        tables.push(table);
    })
}

fn registry_lookup() -> Box<dyn FnMut()> {
    let keys = route_keys();
    let destination = Arc::new(Mailbox::<u64>::bounded(1));
    let registry = Registry::new();
    for k in &keys {
        registry
            .register(k.clone(), destination.clone())
            .expect("fresh key");
    }
    let order: Vec<usize> = scattered(N as usize).collect();
    Box::new(move || {
        for &i in &order {
            black_box(registry.lookup(&keys[i]).is_some());
        }
    })
}

fn registry_route_and_drain() -> Box<dyn FnMut()> {
    let (router, routes) = mcpbench::workloads::upstream_routes();
    Box::new(move || {
        for i in 0..N {
            router
                .route(&routes[(i % 1000) as usize].0, i)
                .expect("room for 100 per route");
            if i % 1000 == 999 {
                for (_, m) in &routes {
                    black_box(m.try_pop());
                }
            }
        }
    })
}

fn registry_inflight() -> Box<dyn FnMut()> {
    let table = InFlight::<u64, u64>::new();
    let far = Instant::now() + Duration::from_secs(3600);
    let mut answers = Vec::with_capacity(N as usize);
    Box::new(move || {
        answers.clear();
        for id in 0..N {
            answers.push(table.begin(id, far).expect("unique id"));
        }
        for id in 0..N {
            table.complete(&id, id).expect("in flight");
        }
    })
}

fn queue_push_pop() -> Box<dyn FnMut()> {
    let mailbox = Mailbox::<u64>::bounded(1024);
    Box::new(move || {
        for i in 0..N {
            mailbox.try_push(i).expect("room");
            black_box(mailbox.try_pop());
        }
    })
}

fn queue_batch64() -> Box<dyn FnMut()> {
    let mailbox = Mailbox::<u64>::bounded(1024);
    let mut out = Vec::with_capacity(64);
    Box::new(move || {
        for b in 0..N / 64 {
            mailbox.try_push_batch(b * 64..b * 64 + 64).expect("room");
            out.clear();
            mailbox.try_pop_batch(64, &mut out);
            black_box(&out);
        }
    })
}

fn session_store() -> (SessionStore, Vec<SessionId>, Instant) {
    let t0 = Instant::now();
    let store = SessionStore::new(SESSIONS * 2);
    let ids = (0..SESSIONS)
        .map(|_| store.create(new_session(), t0).expect("room"))
        .collect();
    (store, ids, t0)
}

fn session_lookup_update() -> Box<dyn FnMut()> {
    let (store, ids, t0) = session_store();
    let order: Vec<usize> = scattered(SESSIONS).collect();
    Box::new(move || {
        for i in 0..SESSIONS as u64 * 100 {
            let id = &ids[order[(i % SESSIONS as u64) as usize]];
            black_box(store.update(id, |s: &mut Session| {
                s.requests += 1;
                s.last_seen = t0;
            }));
        }
    })
}

fn session_create_remove() -> Box<dyn FnMut()> {
    let churn = SessionStore::new(SESSIONS);
    let mut made = Vec::with_capacity(SESSIONS);
    // One set of inputs per iteration (warm-up and counted), built outside the
    // count as the time bench builds them outside its clock.
    let mut inputs: Vec<Vec<NewSession>> = (0..2)
        .map(|_| (0..SESSIONS).map(|_| new_session()).collect())
        .collect();
    Box::new(move || {
        let now = Instant::now();
        made.clear();
        for input in inputs.pop().expect("one set per iteration") {
            made.push(churn.create(input, now).expect("room"));
        }
        for id in &made {
            black_box(churn.remove(id));
        }
    })
}

fn session_evict_idle() -> Box<dyn FnMut()> {
    // One store per iteration (warm-up and counted), half its sessions idle, as
    // the time bench builds one per iteration outside its clock.
    let t0 = Instant::now();
    let later = t0 + Duration::from_secs(400);
    let mut stores: Vec<SessionStore> = (0..2)
        .map(|_| {
            let s = SessionStore::new(SESSIONS);
            for i in 0..SESSIONS {
                let id = s.create(new_session(), t0).expect("room");
                if i % 2 == 0 {
                    s.touch(&id, later);
                }
            }
            s
        })
        .collect();
    let mut scanned = Vec::new();
    Box::new(move || {
        let store = stores.pop().expect("one store per iteration");
        assert_eq!(
            store.evict_idle(later, Duration::from_secs(300)),
            SESSIONS / 2
        );
        // Dropped with the closure, outside the count.
        scanned.push(store);
    })
}

fn codec_stream() -> Vec<u8> {
    let mut frame = tool_call(1, FRAME_SIZE);
    frame.push(b'\n');
    frame.repeat(CODEC_FRAMES)
}

fn codec_decode(parse: bool) -> Box<dyn FnMut()> {
    let stream = codec_stream();
    let mut decoder = FrameDecoder::default();
    Box::new(move || {
        let mut buf = BytesMut::from(&stream[..]);
        let mut n = 0;
        while let Some(f) = decoder.decode(&mut buf).expect("valid frames") {
            n += if parse {
                Message::parse(f).expect("valid JSON-RPC").frame().len()
            } else {
                f.len()
            };
        }
        black_box(n);
    })
}

fn codec_encode() -> Box<dyn FnMut()> {
    let payload = tool_call(1, FRAME_SIZE);
    let mut out = BytesMut::with_capacity((FRAME_SIZE + 1) * CODEC_FRAMES);
    Box::new(move || {
        out.clear();
        for _ in 0..CODEC_FRAMES {
            encode(&payload, usize::MAX, &mut out).expect("no newline");
        }
        black_box(out.len());
    })
}

fn pool_noop_1task() -> Box<dyn FnMut()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let pool = Pool::new(NoopManager, &PoolConfig::default()).expect("valid config");
    Box::new(move || {
        rt.block_on(async {
            for _ in 0..N {
                drop(pool.checkout().await.expect("checkout"));
            }
        })
    })
}

fn integrated_seed_mix() -> Box<dyn FnMut()> {
    let mix = SeedMix::new(256);
    Box::new(move || {
        for i in 0..400 {
            for t in 0..256 {
                mix.op(t, i);
            }
        }
        mix.reset();
    })
}

fn main() {
    if let Ok(id) = std::env::var(CHILD_ENV) {
        match WORKLOADS.iter().find(|w| w.id == id) {
            Some(w) => return run_child(w),
            None => {
                eprintln!("no instruction workload {id:?}");
                std::process::exit(2);
            }
        }
    }
    let h = Harness::from_env();
    let ids: Vec<&str> = WORKLOADS.iter().map(|w| w.id).collect();
    if h.list(&ids) {
        return;
    }
    let selected: Vec<&Workload> = WORKLOADS.iter().filter(|w| h.selected(w.id)).collect();
    if h.quick() {
        for w in &selected {
            run_child(w);
            println!("Testing instructions {}: Success", w.id);
        }
        return;
    }
    if let Err(e) = run(&selected) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(selected: &[&Workload]) -> Result<(), Box<dyn std::error::Error>> {
    let valgrind = valgrind_version()?;
    let exe = std::env::current_exe()?;
    let scratch = scratch_dir()?;
    let mut counts = std::collections::BTreeMap::new();
    for (k, w) in selected.iter().enumerate() {
        let c = count(&exe, w, &scratch)?;
        println!(
            "instructions {:<40} {:>14} per iteration, {:>9.1} per op  [{}/{}]",
            w.id,
            c.instructions,
            c.per_op(),
            k + 1,
            selected.len()
        );
        counts.insert(w.id.to_string(), c);
    }
    let file = InstructionsFile {
        schema: INSTRUCTIONS_SCHEMA.to_string(),
        environment: mcpbench::env::Environment::capture(),
        valgrind,
        counts,
    };
    let path = mcpbench::instructions::default_path();
    mcpbench::results::write_json(&path, &file)?;
    println!("instructions: wrote {}", path.display());
    Ok(())
}

/// A scratch folder for callgrind's output files, under the target directory.
fn scratch_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = mcpbench::results::target_dir()
        .join("mcpbench")
        .join("callgrind");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
