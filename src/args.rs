//! The command line Criterion gives every bench binary, read the same way by the
//! harnesses that are not Criterion (memory accounting, sustained load), so that
//! `cargo bench FILTER`, `-- --test` and `-- --list` mean the same thing everywhere.

use regex::Regex;

/// Criterion's options that take a value (so their value is not the filter).
const TAKES_VALUE: &[&str] = &[
    "-c",
    "--color",
    "-s",
    "--save-baseline",
    "-b",
    "--baseline",
    "--baseline-lenient",
    "--format",
    "--profile-time",
    "--load-baseline",
    "--sample-size",
    "--warm-up-time",
    "--measurement-time",
    "--nresamples",
    "--noise-threshold",
    "--confidence-level",
    "--significance-level",
    "--plotting-backend",
    "--output-format",
];

/// What the bench binary was asked to do.
#[derive(Debug, Clone, Default)]
pub struct BenchArgs {
    /// `--test`: run each bench once to prove it works; measure nothing.
    pub test: bool,
    /// `--list`: print the bench ids and exit.
    pub list: bool,
    /// `--exact`: the filter is an exact id, not a regex.
    pub exact: bool,
    /// `--profile-time SECONDS`: profile instead of measuring.
    pub profile_time: Option<f64>,
    /// The bench filter (a regex, as in Criterion).
    pub filter: Option<String>,
    /// Options this project's harnesses add (`--seconds`, `--flamegraph`, ...),
    /// as `(name, value)`; unknown to Criterion, so only custom harnesses take them.
    pub extra: Vec<(String, String)>,
}

impl BenchArgs {
    /// Reads the process arguments.
    pub fn from_env() -> BenchArgs {
        BenchArgs::parse(std::env::args().skip(1))
    }

    /// Reads `args` (without the program name). Options this project's custom
    /// harnesses understand are given as `--name=value` or `--name value` and listed
    /// in `custom`.
    pub fn parse(args: impl IntoIterator<Item = String>) -> BenchArgs {
        let mut out = BenchArgs::default();
        let mut args = args.into_iter().peekable();
        while let Some(arg) = args.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) if n.starts_with('-') => (n.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            match name.as_str() {
                "--test" => out.test = true,
                "--list" => out.list = true,
                "--exact" => out.exact = true,
                "--bench" | "--nocapture" | "--quiet" | "--verbose" | "-v" | "-n" | "--noplot"
                | "--quick" | "--discard-baseline" | "--ignored" => {}
                n if TAKES_VALUE.contains(&n) => {
                    let value = inline.or_else(|| args.next());
                    if n == "--profile-time" {
                        out.profile_time = value.and_then(|v| v.parse().ok());
                    }
                }
                n if n.starts_with("--") => {
                    let value = inline
                        .or_else(|| args.next_if(|v| !v.starts_with("--")))
                        .unwrap_or_default();
                    out.extra
                        .push((n.trim_start_matches("--").to_string(), value));
                }
                _ if out.filter.is_none() => out.filter = Some(arg),
                _ => {}
            }
        }
        out
    }

    /// True when bench `id` passes the filter (Criterion's rules: regex, or exact
    /// with `--exact`; an invalid regex matches as a plain substring).
    pub fn selects(&self, id: &str) -> bool {
        match &self.filter {
            None => true,
            Some(f) if self.exact => f == id,
            Some(f) => Regex::new(f).map_or_else(|_| id.contains(f.as_str()), |re| re.is_match(id)),
        }
    }

    /// The value of a project option, such as `--seconds 30`.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.extra
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> BenchArgs {
        BenchArgs::parse(s.split_whitespace().map(String::from))
    }

    #[test]
    fn reads_criterion_flags_and_the_filter() {
        let a = parse("--bench --save-baseline main registry/lookup --test");
        assert!(a.test && !a.list);
        assert_eq!(a.filter.as_deref(), Some("registry/lookup"));
        assert!(a.selects("registry/lookup/100k"));
        assert!(!a.selects("queue/push_pop/100k"));
        let a = parse("--profile-time 10 netio --bench");
        assert_eq!(a.profile_time, Some(10.0));
        assert_eq!(a.filter.as_deref(), Some("netio"));
        let a = parse("--exact --list queue/x");
        assert!(a.list && a.selects("queue/x") && !a.selects("queue/xy"));
    }

    #[test]
    fn project_options_are_kept_apart() {
        let a = parse("--bench --seconds 5 --flamegraph=out.svg sustained");
        assert_eq!(a.option("seconds"), Some("5"));
        assert_eq!(a.option("flamegraph"), Some("out.svg"));
        assert_eq!(a.filter.as_deref(), Some("sustained"));
        assert!(parse("").selects("anything"));
    }

    #[test]
    fn invalid_regex_falls_back_to_substring() {
        let a = parse("a(b");
        assert!(a.selects("xa(by"));
        assert!(!a.selects("ab"));
    }
}
