use super::*;

fn write(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("connections.json");
    std::fs::write(&path, text).unwrap();
    path
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mcpbench-files-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_written_file_reads_back_equal() {
    let dir = scratch("roundtrip");
    let path = write(
        &dir,
        &serde_json::to_string_pretty(&ConnectionsFile::example()).unwrap(),
    );
    assert_eq!(
        ConnectionsFile::load(&path).unwrap(),
        ConnectionsFile::example()
    );
    assert!(ConnectionsFile::example().all_answered());
}

#[test]
fn a_missing_field_is_refused_with_the_file_and_field_named() {
    let dir = scratch("missing");
    let mut v = serde_json::to_value(ConnectionsFile::example()).unwrap();
    v["messages"].as_object_mut().unwrap().remove("lost");
    let path = write(&dir, &v.to_string());
    let e = ConnectionsFile::load(&path).unwrap_err().to_string();
    assert!(e.contains("connections.json"), "{e}");
    assert!(
        e.contains("messages") && e.contains("missing field `lost`"),
        "{e}"
    );
}

#[test]
fn a_float_where_an_integer_belongs_is_refused_with_the_field_named() {
    let dir = scratch("float");
    let mut v = serde_json::to_value(ConnectionsFile::example()).unwrap();
    v["messages"]["lost"] = serde_json::json!(5.0);
    let path = write(&dir, &v.to_string());
    let e = ConnectionsFile::load(&path).unwrap_err().to_string();
    assert!(
        e.contains("connections.json") && e.contains("messages.lost"),
        "{e}"
    );
}

#[test]
fn another_schema_and_impossible_figures_are_refused() {
    let dir = scratch("schema");
    let path = write(&dir, r#"{"schema":"mcpbench.connections/9"}"#);
    let e = ConnectionsFile::load(&path).unwrap_err();
    assert!(matches!(e, FileError::Schema { .. }), "{e}");
    let mut bad = ConnectionsFile::example();
    bad.latency_ns.p99 = bad.latency_ns.max + 1;
    let path = write(&dir, &serde_json::to_string(&bad).unwrap());
    let e = ConnectionsFile::load(&path).unwrap_err().to_string();
    assert!(e.contains("out of order"), "{e}");
}

#[test]
fn a_stats_reply_with_a_wrong_type_names_the_field() {
    let e = parse::<ServerStats>(
        r#"{"sessions":1.5,"allocatorCounted":true,"liveBytes":1,"rssBytes":1}"#,
        "server 3's stats",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("server 3's stats") && e.contains("sessions"),
        "{e}"
    );
}
