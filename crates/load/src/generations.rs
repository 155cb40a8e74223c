//! `mcpbench-load generations`: asks each server which protocol generation it
//! answers, by opening the conversation both ways (`initialize` and a session for
//! 2025-11-25; `server/discover` for 2026-07-28) and calling `tools/list` in each,
//! so a table says which server can be compared in which generation (and driven
//! by `listen`: it lists a `touch` tool), measured, not read from a changelog.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use mcpbench_files::generations::{
    GENERATIONS_SCHEMA, GenerationProbe, GenerationsEntry, GenerationsFile,
};
use mcpbench_files::results_dir;

use crate::cli::{GenerationsPlan, Protocol};
use crate::http_client::HttpMcp;
use crate::peers::{PeerPaths, peer};
use crate::procs::{Binaries, Running};
use crate::target::Target;

/// Longest one generation's questions may take.
const PATIENCE: Duration = Duration::from_secs(10);

/// Runs `plan`, writes `generations.json` (and its table) and prints the table.
/// Exit 0 when every server was asked (whatever it answered); 3 when one could
/// not be (not installed, did not start), as for the experiments; 2 when the
/// file could not be written.
pub async fn run(plan: GenerationsPlan, bins: Binaries) -> ExitCode {
    let file = ask_all(&plan, &bins).await;
    let table = file.table();
    let path = plan
        .out
        .clone()
        .unwrap_or_else(|| results_dir(&PathBuf::from(".")).join("generations.json"));
    if let Err(e) = crate::output::write_with_table(&path, &file, &table, "generations") {
        eprintln!("mcpbench-load: {e}");
        return ExitCode::from(2);
    }
    match file.servers.iter().find_map(|s| s.not_run.as_ref()) {
        Some(why) => {
            eprintln!("mcpbench-load: a server could not be asked: {why}");
            ExitCode::from(crate::output::EXIT_NOT_RUN)
        }
        None => ExitCode::SUCCESS,
    }
}

/// Every server of `plan` (started ones first, then the targets), asked.
pub async fn ask_all(plan: &GenerationsPlan, bins: &Binaries) -> GenerationsFile {
    let mut servers = Vec::new();
    let root = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let paths = PeerPaths::new(bins.server.clone(), &root);
    for &name in &plan.servers {
        eprintln!("generations: {name}");
        let entry = match peer(name, &paths, 4096) {
            Err(e) => not_run(name.name(), String::new(), e.to_string()),
            Ok(p) => match Running::start(&p).await {
                Err(e) => not_run(name.name(), p.description.clone(), e.to_string()),
                Ok(running) => {
                    let entry = match running.url.parse::<Target>() {
                        Ok(target) => GenerationsEntry {
                            name: name.name().into(),
                            description: p.description.clone(),
                            not_run: None,
                            generations: ask(&target).await,
                        },
                        Err(e) => not_run(
                            name.name(),
                            p.description.clone(),
                            format!("its URL {:?}: {e}", running.url),
                        ),
                    };
                    running.stop().await;
                    entry
                }
            },
        };
        servers.push(entry);
    }
    for target in &plan.target {
        eprintln!("generations: {target}");
        servers.push(GenerationsEntry {
            name: "target".into(),
            description: target.to_string(),
            not_run: None,
            generations: ask(target).await,
        });
    }
    GenerationsFile {
        schema: GENERATIONS_SCHEMA.into(),
        servers,
    }
}

fn not_run(name: &str, description: String, why: String) -> GenerationsEntry {
    GenerationsEntry {
        name: name.into(),
        description,
        not_run: Some(why),
        generations: Vec::new(),
    }
}

/// Both generations of the server at `target`, each on a connection of its own.
pub async fn ask(target: &Target) -> Vec<GenerationProbe> {
    let mut out = Vec::new();
    for protocol in [Protocol::Handshake, Protocol::Stateless] {
        let answer = tokio::time::timeout(PATIENCE, tools_in(target, protocol))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {PATIENCE:?}")));
        out.push(match answer {
            Ok(tools) => GenerationProbe {
                protocol: protocol.name().into(),
                served: true,
                why: None,
                tools,
            },
            Err(why) => GenerationProbe {
                protocol: protocol.name().into(),
                served: false,
                why: Some(why),
                tools: Vec::new(),
            },
        });
    }
    out
}

/// The tools `target` lists in `protocol`, or why the conversation failed.
async fn tools_in(target: &Target, protocol: Protocol) -> Result<Vec<String>, String> {
    let mut c = HttpMcp::connect(target).await.map_err(|e| e.to_string())?;
    c.start(protocol).await.map_err(|e| e.to_string())?;
    let reply = c.list_tools().await.map_err(|e| e.to_string())?;
    if !reply.is_result() {
        return Err(format!("tools/list: {}", reply.why()));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&reply.json).map_err(|e| format!("tools/list: not JSON: {e}"))?;
    let tools = v
        .pointer("/result/tools")
        .and_then(|t| t.as_array())
        .ok_or("tools/list: no result.tools array")?;
    Ok(tools
        .iter()
        .filter_map(|t| t.get("name").and_then(|n| n.as_str()).map(String::from))
        .collect())
}
