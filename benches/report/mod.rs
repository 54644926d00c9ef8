//! Post-run report for the `compare` bench: reads criterion's estimates, prints a
//! markdown table and splices it into `BENCHMARKS.md`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use std::{env, fs};

/// Marker lines in `BENCHMARKS.md`; the text between them is replaced.
const BEGIN: &str = "<!-- compare:begin -->";
const END: &str = "<!-- compare:end -->";
/// The command that produces the table.
const COMMAND: &str = "cargo bench --bench compare";
/// Column the ratios are relative to.
const BASELINE: &str = "tokio";

/// Whether criterion is actually measuring, i.e. not in test or list mode.
///
/// Mirrors criterion's `configure_from_args`: it only benchmarks when `--bench` is
/// given (cargo bench passes it) without `--test` or `--list`.
pub(crate) fn is_measuring(args: &[String]) -> bool {
    let has = |flag: &str| args.iter().skip(1).any(|arg| arg == flag);
    has("--bench") && !has("--test") && !has("--list")
}

/// The estimate files' modification times before the run, so that files this run
/// did not rewrite (filtered, profiling or baseline-only runs) are not reported.
pub(crate) struct Report<'a> {
    dir: PathBuf,
    groups: &'a [&'a str],
    runtimes: &'a [&'a str],
    before: Vec<Option<SystemTime>>,
}

impl<'a> Report<'a> {
    /// Snapshots `<criterion dir>/<group>/<runtime>/new/estimates.json` for every cell.
    pub(crate) fn before_run(groups: &'a [&'a str], runtimes: &'a [&'a str]) -> Self {
        let dir = criterion_dir();
        let before = cells(groups, runtimes)
            .map(|(group, runtime)| modified(&estimates_path(&dir, group, runtime)))
            .collect();
        Self {
            dir,
            groups,
            runtimes,
            before,
        }
    }

    /// Reads the estimates written by this run, prints the table and, when every
    /// cell was measured, writes it into `BENCHMARKS.md` between the markers.
    pub(crate) fn finish(&self, cores: usize) {
        let mut medians = cells(self.groups, self.runtimes).zip(&self.before).map(
            |((group, runtime), before)| {
                let path = estimates_path(&self.dir, group, runtime);
                let now = modified(&path)?;
                if before.is_some_and(|before| before >= now) {
                    return None; // not rewritten by this run
                }
                median_ns(&path)
            },
        );
        let rows: Vec<(&str, Vec<Option<f64>>)> = self
            .groups
            .iter()
            .map(|&group| (group, medians.by_ref().take(self.runtimes.len()).collect()))
            .collect();

        let measured = rows.iter().flat_map(|(_, cells)| cells).flatten().count();
        if measured == 0 {
            println!(
                "compare: no fresh estimates under {} (filtered, profiling or \
                 baseline-only run?); no report",
                self.dir.display()
            );
            return;
        }

        let table = render(&rows, self.runtimes, cores);
        println!("\n{table}");

        if measured < rows.len() * self.runtimes.len() {
            println!(
                "compare: some estimates are missing (filtered run?); BENCHMARKS.md not updated"
            );
            return;
        }
        update_benchmarks_md(&table);
    }
}

/// Every (group, runtime) cell in row-major order.
fn cells<'a>(
    groups: &'a [&'a str],
    runtimes: &'a [&'a str],
) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
    groups
        .iter()
        .flat_map(move |&group| runtimes.iter().map(move |&runtime| (group, runtime)))
}

/// Where criterion writes its results; same precedence as criterion 0.5:
/// `$CRITERION_HOME`, `$CARGO_TARGET_DIR/criterion`, `<target dir>/criterion`.
fn criterion_dir() -> PathBuf {
    if let Some(home) = env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    // The bench binary lives in `<target>/[<triple>/]<profile>/deps/`.
    if let Ok(exe) = env::current_exe() {
        let target = exe.ancestors().skip(1).find(|dir| {
            dir.file_name().is_some_and(|name| name == "target")
                || dir.join("CACHEDIR.TAG").is_file()
        });
        if let Some(target) = target {
            return target.join("criterion");
        }
    }
    PathBuf::from("target/criterion")
}

/// `<dir>/<group>/<runtime>/new/estimates.json`.
fn estimates_path(dir: &Path, group: &str, runtime: &str) -> PathBuf {
    dir.join(group)
        .join(runtime)
        .join("new")
        .join("estimates.json")
}

fn modified(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).ok()?.modified().ok()
}

/// `median.point_estimate` (ns) of an `estimates.json`.
fn median_ns(path: &Path) -> Option<f64> {
    let estimates: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(path).ok()?).ok()?;
    estimates["median"]["point_estimate"].as_f64()
}

/// The markdown block: a header line and the table.
fn render(rows: &[(&str, Vec<Option<f64>>)], runtimes: &[&str], cores: usize) -> String {
    let baseline = runtimes.iter().position(|&name| name == BASELINE);
    let others: Vec<usize> = (0..runtimes.len())
        .filter(|&i| Some(i) != baseline)
        .collect();

    let mut out = String::new();
    let _ = writeln!(
        out,
        "Median time per iteration (criterion `median.point_estimate`, lower is better); \
         workloads and parameters from tokio's `benches/rt_multi_threaded.rs`.\n"
    );
    let _ = writeln!(
        out,
        "Cores: {cores}; every runtime runs {cores} worker thread(s) \
         (`std::thread::available_parallelism()`). Command: `{COMMAND}`\n"
    );

    // Header.
    out.push_str("| workload |");
    for name in runtimes {
        let _ = write!(out, " {name} |");
    }
    if baseline.is_some() {
        for &i in &others {
            let _ = write!(out, " {}/{BASELINE} |", runtimes[i]);
        }
    }
    out.push_str("\n|---|");
    let ratio_columns = if baseline.is_some() { others.len() } else { 0 };
    for _ in 0..runtimes.len() + ratio_columns {
        out.push_str("---:|");
    }
    out.push('\n');

    // Rows.
    for (group, cells) in rows {
        let _ = write!(out, "| {group} |");
        for cell in cells {
            let _ = write!(out, " {} |", cell.map_or_else(|| "n/a".to_owned(), human));
        }
        if let Some(b) = baseline {
            for &i in &others {
                let cell = match (cells[i], cells[b]) {
                    (Some(x), Some(base)) if base > 0.0 => ratio(x / base),
                    _ => "n/a".to_owned(),
                };
                let _ = write!(out, " {cell} |");
            }
        }
        out.push('\n');
    }
    out
}

/// Formats nanoseconds with a unit and three significant digits.
fn human(ns: f64) -> String {
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    let decimals = if value < 10.0 {
        2
    } else if value < 100.0 {
        1
    } else {
        0
    };
    format!("{value:.decimals$} {unit}")
}

/// Formats a ratio with two decimals, or two significant digits below 0.1.
fn ratio(r: f64) -> String {
    let decimals = if r >= 0.095 || r <= 0.0 {
        2
    } else {
        // 0.0283 -> 3 decimals ("0.028"), 0.0028 -> 4 decimals ("0.0028").
        (-r.log10()).ceil() as usize + 1
    };
    format!("{r:.decimals$}×")
}

/// Replaces the text between the markers of `BENCHMARKS.md` with `table`; leaves
/// the file alone if it or either marker is missing.
fn update_benchmarks_md(table: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    let Ok(doc) = fs::read_to_string(&path) else {
        println!("compare: {} not found; table only printed", path.display());
        return;
    };
    let Some(updated) = splice(&doc, table) else {
        println!(
            "compare: {} lacks the `{BEGIN}` / `{END}` markers; table only printed",
            path.display()
        );
        return;
    };
    if updated == doc {
        return;
    }
    match fs::write(&path, updated) {
        Ok(()) => println!("compare: table written to {}", path.display()),
        Err(err) => println!("compare: could not write {}: {err}", path.display()),
    }
}

/// `doc` with the text between the first `BEGIN` and the following `END` marker
/// replaced by `body`, or `None` if the markers are not both present in order.
fn splice(doc: &str, body: &str) -> Option<String> {
    let body_start = doc.find(BEGIN)? + BEGIN.len();
    let body_end = body_start + doc[body_start..].find(END)?;
    Some(format!(
        "{}\n{}\n{}",
        &doc[..body_start],
        body.trim_end(),
        &doc[body_end..]
    ))
}
