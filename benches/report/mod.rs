//! Post-run report for the `compare` bench: reads criterion's estimates, prints a
//! markdown table and splices it into `BENCHMARKS.md`; and the peak-RSS probe of
//! `sleep_many` ([`rss`]), with its own table and markers.

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
/// Extra ratio columns `numerator/denominator`, shown when both runtimes are columns.
const EXTRA_RATIOS: [(&str, &str); 1] = [("creche", "rayon")];

/// Whether criterion is actually measuring, i.e. not in test or list mode.
///
/// Mirrors criterion's `configure_from_args`: it only benchmarks when `--bench` is
/// given (cargo bench passes it) without `--test` or `--list`.
pub(crate) fn is_measuring(args: &[String]) -> bool {
    let has = |flag: &str| args.iter().skip(1).any(|arg| arg == flag);
    has("--bench") && !has("--test") && !has("--list")
}

/// One table cell.
#[derive(Clone, Copy)]
enum Cell {
    /// Criterion's median (ns), written by this run.
    Median(f64),
    /// The group runs this runtime, but this run wrote no estimate for it.
    Missing,
    /// The group does not run this runtime (e.g. smol in the timer groups).
    NotRun,
}

/// The estimate files' modification times before the run, so that files this run
/// did not rewrite (filtered, profiling or baseline-only runs) are not reported.
pub(crate) struct Report<'a> {
    dir: PathBuf,
    /// Every group with the runtimes it runs (a subset of `runtimes`).
    groups: &'a [(&'a str, &'a [&'a str])],
    /// The table's columns.
    runtimes: &'a [&'a str],
    before: Vec<Option<SystemTime>>,
}

/// What [`Report::finish`] found.
pub(crate) struct Summary<'a> {
    /// Groups whose every cell was measured by this run.
    measured: Vec<&'a str>,
    /// Every cell of every group was measured (a full run; the table was written).
    complete: bool,
}

impl Summary<'_> {
    /// Whether this run measured every runtime of `group`.
    pub(crate) fn measured(&self, group: &str) -> bool {
        self.measured.contains(&group)
    }

    /// Whether this run measured every cell (a full, unfiltered run).
    pub(crate) fn complete(&self) -> bool {
        self.complete
    }
}

impl<'a> Report<'a> {
    /// Snapshots `<criterion dir>/<group>/<runtime>/new/estimates.json` for every cell.
    pub(crate) fn before_run(
        groups: &'a [(&'a str, &'a [&'a str])],
        runtimes: &'a [&'a str],
    ) -> Self {
        let dir = criterion_dir();
        let before = cells(groups, runtimes)
            .map(|(group, runtime, _)| modified(&estimates_path(&dir, group, runtime)))
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
    pub(crate) fn finish(&self, cores: usize) -> Summary<'a> {
        let mut medians = cells(self.groups, self.runtimes).zip(&self.before).map(
            |((group, runtime, runs), before)| {
                if !runs {
                    return Cell::NotRun;
                }
                let path = estimates_path(&self.dir, group, runtime);
                let Some(now) = modified(&path) else {
                    return Cell::Missing;
                };
                if before.is_some_and(|before| before >= now) {
                    return Cell::Missing; // not rewritten by this run
                }
                median_ns(&path).map_or(Cell::Missing, Cell::Median)
            },
        );
        let rows: Vec<(&str, Vec<Cell>)> = self
            .groups
            .iter()
            .map(|&(group, _)| (group, medians.by_ref().take(self.runtimes.len()).collect()))
            .collect();

        let all = |cells: &[Cell]| !cells.iter().any(|cell| matches!(cell, Cell::Missing));
        let mut summary = Summary {
            measured: rows
                .iter()
                .filter(|(_, cells)| all(cells))
                .map(|&(group, _)| group)
                .collect(),
            complete: false,
        };

        let measured = rows
            .iter()
            .flat_map(|(_, cells)| cells)
            .filter(|cell| matches!(cell, Cell::Median(_)))
            .count();
        if measured == 0 {
            println!(
                "compare: no fresh estimates under {} (filtered, profiling or \
                 baseline-only run?); no report",
                self.dir.display()
            );
            summary.measured.clear();
            return summary;
        }

        let table = render(&rows, self.runtimes, cores);
        println!("\n{table}");

        if !rows.iter().all(|(_, cells)| all(cells)) {
            println!(
                "compare: some estimates are missing (filtered run?); BENCHMARKS.md not updated"
            );
            return summary;
        }
        summary.complete = true;
        update_benchmarks_md(BEGIN, END, &table, "table");
        summary
    }
}

/// Every (group, runtime, whether the group runs it) cell in row-major order.
fn cells<'a>(
    groups: &'a [(&'a str, &'a [&'a str])],
    runtimes: &'a [&'a str],
) -> impl Iterator<Item = (&'a str, &'a str, bool)> + 'a {
    groups.iter().flat_map(move |&(group, runs)| {
        runtimes
            .iter()
            .map(move |&runtime| (group, runtime, runs.contains(&runtime)))
    })
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

/// Cell text for a runtime a group does not run.
const NOT_RUN: &str = "—";

/// The markdown block: a header line and the table.
fn render(rows: &[(&str, Vec<Cell>)], runtimes: &[&str], cores: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Median time per iteration (criterion `median.point_estimate`, lower is better). \
         Scheduler workloads and parameters from tokio's `benches/rt_multi_threaded.rs`; \
         the timer workloads (`timeout_ready`, `sleep_many`) and the structured-concurrency \
         ones (`nursery_cancel`, `move_on_after_ready`) run on creche and tokio only, \
         `nursery_fanout` on creche, tokio and smol, `fib_fork_join` on creche, tokio and \
         rayon ({NOT_RUN}: not run). `nursery_cancel` times only the cancellation and the \
         wait for the children to be gone.\n"
    );
    let _ = writeln!(
        out,
        "Cores: {cores}; every runtime runs {cores} worker thread(s) \
         (`std::thread::available_parallelism()`). Command: `{COMMAND}`\n"
    );

    let columns = Columns::new(runtimes);
    columns.header(&mut out, "workload");
    for (group, cells) in rows {
        let text = |cell: &Cell| match cell {
            Cell::Median(ns) => human(*ns),
            Cell::Missing => "n/a".to_owned(),
            Cell::NotRun => NOT_RUN.to_owned(),
        };
        let ratio_of = |x: &Cell, base: &Cell| match (x, base) {
            (Cell::NotRun, _) | (_, Cell::NotRun) => NOT_RUN.to_owned(),
            (Cell::Median(x), Cell::Median(base)) if *base > 0.0 => ratio(x / base),
            _ => "n/a".to_owned(),
        };
        columns.row(&mut out, group, cells, text, ratio_of);
    }
    out
}

/// A table's columns: one per runtime, then `<runtime>/<BASELINE>` ratios for the
/// others when the baseline is among them, then the [`EXTRA_RATIOS`] whose runtimes are
/// both columns.
struct Columns<'a> {
    runtimes: &'a [&'a str],
    /// Ratio columns as (numerator, denominator) indices into `runtimes`.
    ratios: Vec<(usize, usize)>,
}

impl<'a> Columns<'a> {
    fn new(runtimes: &'a [&'a str]) -> Self {
        let index = |name: &str| runtimes.iter().position(|&runtime| runtime == name);
        let mut ratios: Vec<(usize, usize)> = match index(BASELINE) {
            Some(baseline) => (0..runtimes.len())
                .filter(|&i| i != baseline)
                .map(|i| (i, baseline))
                .collect(),
            None => Vec::new(),
        };
        ratios.extend(EXTRA_RATIOS.iter().filter_map(|&(numerator, denominator)| {
            Some((index(numerator)?, index(denominator)?))
        }));
        Self { runtimes, ratios }
    }

    /// The header and alignment lines; `first` names the row-label column.
    fn header(&self, out: &mut String, first: &str) {
        let _ = write!(out, "| {first} |");
        for name in self.runtimes {
            let _ = write!(out, " {name} |");
        }
        for &(numerator, denominator) in &self.ratios {
            let _ = write!(
                out,
                " {}/{} |",
                self.runtimes[numerator], self.runtimes[denominator]
            );
        }
        out.push_str("\n|---|");
        for _ in 0..self.runtimes.len() + self.ratios.len() {
            out.push_str("---:|");
        }
        out.push('\n');
    }

    /// One row: `label`, every cell as `text`, then the ratios as `ratio_of(cell, base)`.
    fn row<T>(
        &self,
        out: &mut String,
        label: &str,
        cells: &[T],
        text: impl Fn(&T) -> String,
        ratio_of: impl Fn(&T, &T) -> String,
    ) {
        let _ = write!(out, "| {label} |");
        for cell in cells {
            let _ = write!(out, " {} |", text(cell));
        }
        for &(numerator, denominator) in &self.ratios {
            let _ = write!(
                out,
                " {} |",
                ratio_of(&cells[numerator], &cells[denominator])
            );
        }
        out.push('\n');
    }
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

/// Replaces the text between the `begin` / `end` markers of `BENCHMARKS.md` with
/// `body` (`what` names it in messages); leaves the file alone if it or either marker
/// is missing.
fn update_benchmarks_md(begin: &str, end: &str, body: &str, what: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    let Ok(doc) = fs::read_to_string(&path) else {
        println!("compare: {} not found; {what} only printed", path.display());
        return;
    };
    let Some(updated) = splice(&doc, begin, end, body) else {
        println!(
            "compare: {} lacks the `{begin}` / `{end}` markers; {what} only printed",
            path.display()
        );
        return;
    };
    if updated == doc {
        return;
    }
    match fs::write(&path, updated) {
        Ok(()) => println!("compare: {what} written to {}", path.display()),
        Err(err) => println!("compare: could not write {}: {err}", path.display()),
    }
}

/// `doc` with the text between the first `begin` and the following `end` marker
/// replaced by `body`, or `None` if the markers are not both present in order.
fn splice(doc: &str, begin: &str, end: &str, body: &str) -> Option<String> {
    let body_start = doc.find(begin)? + begin.len();
    let body_end = body_start + doc[body_start..].find(end)?;
    Some(format!(
        "{}\n{}\n{}",
        &doc[..body_start],
        body.trim_end(),
        &doc[body_end..]
    ))
}

/// Peak resident set size of `sleep_many`, one runtime per process.
///
/// One process has one high-water mark, so the bench re-executes itself
/// (`std::env::current_exe()`) once per runtime with [`PROBE_ENV`] set to the runtime's
/// name. That child ([`probe_request`] in `main`) prints `baseline VmHWM: …` before
/// building the runtime, runs one `sleep_many` iteration, prints the `VmHWM:` line of
/// `/proc/self/status` (`VmHWM: n/a` off Linux) and `max pending: N` (the most sleeps
/// pending at once), and exits before criterion starts. The parent ([`run`]) runs
/// [`PROBE_RUNS`] children per runtime, takes the median of each figure, prints a table
/// and, on a full run, splices it into `BENCHMARKS.md` between `<!-- rss:begin -->` and
/// `<!-- rss:end -->`.
pub(crate) mod rss {
    use super::{COMMAND, Columns, ratio, update_benchmarks_md};
    use std::fmt::Write as _;
    use std::path::Path;
    use std::process::{Command, Stdio};
    use std::{env, fs};

    /// Environment variable that turns the bench binary into a probe of one runtime.
    pub(crate) const PROBE_ENV: &str = "CRECHE_BENCH_RSS_PROBE";
    /// Marker lines of the peak-RSS table in `BENCHMARKS.md`.
    const BEGIN: &str = "<!-- rss:begin -->";
    const END: &str = "<!-- rss:end -->";
    /// The `/proc/self/status` field (peak resident set size, "high water mark").
    const PEAK: &str = "VmHWM:";
    /// Prefix of the line printed before the runtime is built.
    const BEFORE: &str = "baseline ";
    /// Prefix of the line with the most sleeps pending at once.
    const PENDING: &str = "max pending: ";
    /// Probe processes per runtime (the peak depends on timing; the median is reported).
    const PROBE_RUNS: usize = 3;

    /// The runtime to probe, if this process is a probe child.
    pub(crate) fn probe_request() -> Option<String> {
        env::var(PROBE_ENV).ok().filter(|name| !name.is_empty())
    }

    /// Prints `baseline VmHWM: …` (the process before the runtime exists).
    pub(crate) fn print_baseline() {
        println!("{BEFORE}{}", vm_hwm_line());
    }

    /// Prints the `VmHWM:` line of `/proc/self/status`.
    pub(crate) fn print_peak() {
        println!("{}", vm_hwm_line());
    }

    /// Prints `max pending: N`.
    pub(crate) fn print_pending(max_pending: usize) {
        println!("{PENDING}{max_pending}");
    }

    /// `VmHWM:    12345 kB`, or `VmHWM: n/a` where there is no such line.
    fn vm_hwm_line() -> String {
        let status = if cfg!(target_os = "linux") {
            fs::read_to_string("/proc/self/status").ok()
        } else {
            None
        };
        status
            .as_deref()
            .and_then(|status| status.lines().find(|line| line.starts_with(PEAK)))
            .map_or_else(|| format!("{PEAK} n/a"), str::to_owned)
    }

    /// KiB of a `VmHWM:    12345 kB` line.
    fn parse_kib(line: &str) -> Option<u64> {
        line.strip_prefix(PEAK)?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()
    }

    /// What one probe child reported (KiB; sleeps), or the medians of several.
    #[derive(Clone, Copy, Default)]
    struct Probe {
        before: Option<u64>,
        peak: Option<u64>,
        pending: Option<u64>,
    }

    impl Probe {
        /// The median of each figure over `probes` (the upper one of an even count).
        fn median(probes: &[Probe]) -> Probe {
            let median = |field: fn(&Probe) -> Option<u64>| {
                let mut values: Vec<u64> = probes.iter().filter_map(field).collect();
                values.sort_unstable();
                values.get(values.len() / 2).copied()
            };
            Probe {
                before: median(|p| p.before),
                peak: median(|p| p.peak),
                pending: median(|p| p.pending),
            }
        }
    }

    /// Runs `exe` as the probe of `runtime` and parses its output.
    fn probe(exe: &Path, runtime: &str) -> Probe {
        let output = Command::new(exe)
            .env(PROBE_ENV, runtime)
            .stdin(Stdio::null())
            .output();
        let output = match output {
            Ok(output) if output.status.success() => output,
            Ok(output) => {
                println!(
                    "compare: the {runtime} RSS probe failed ({}): {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                );
                return Probe::default();
            }
            Err(err) => {
                println!("compare: could not run the {runtime} RSS probe: {err}");
                return Probe::default();
            }
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        let mut probe = Probe::default();
        for line in stdout.lines() {
            if let Some(before) = line.strip_prefix(BEFORE) {
                probe.before = parse_kib(before);
            } else if line.starts_with(PEAK) {
                probe.peak = parse_kib(line);
            } else if let Some(pending) = line.strip_prefix(PENDING) {
                probe.pending = pending.trim().parse().ok();
            }
        }
        probe
    }

    /// Probes every runtime in `runtimes` (one child process each, one after the other),
    /// prints the table, and writes it into `BENCHMARKS.md` if `write` (a full run) and
    /// every figure is known.
    pub(crate) fn run(runtimes: &[&str], cores: usize, sleeps: usize, write: bool) {
        let exe = match env::current_exe() {
            Ok(exe) => exe,
            Err(err) => {
                println!("compare: no RSS probe (current_exe: {err})");
                return;
            }
        };
        let probes: Vec<Probe> = runtimes
            .iter()
            .map(|&runtime| {
                let runs: Vec<Probe> = (0..PROBE_RUNS).map(|_| probe(&exe, runtime)).collect();
                let peaks: Vec<String> = runs.iter().map(|run| thousands(run.peak)).collect();
                let median = Probe::median(&runs);
                println!(
                    "compare: {runtime} sleep_many peak RSS: {} KiB median of [{}] KiB; \
                     {} KiB before the runtime; at most {} sleeps pending at once",
                    thousands(median.peak),
                    peaks.join(", "),
                    thousands(median.before),
                    thousands(median.pending)
                );
                median
            })
            .collect();

        let table = render(runtimes, &probes, cores, sleeps);
        println!("\n{table}");

        if !write {
            println!("compare: not a full run; peak RSS not written to BENCHMARKS.md");
        } else if probes.iter().any(|probe| probe.peak.is_none()) {
            println!("compare: some peak RSS figures are missing; BENCHMARKS.md not updated");
        } else {
            update_benchmarks_md(BEGIN, END, &table, "peak RSS table");
        }
    }

    /// The markdown block: a header line and the table (rows: peak, before, growth,
    /// pending sleeps).
    fn render(runtimes: &[&str], probes: &[Probe], cores: usize, sleeps: usize) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Peak resident set size (`VmHWM` of `/proc/self/status`, KiB, lower is better) \
             of a fresh process that runs one `sleep_many` iteration ({} sleeps of \
             1–10 ms, one task each) on one runtime with {cores} worker thread(s); median \
             of {PROBE_RUNS} processes per runtime. \"before the runtime\" is `VmHWM` \
             before the runtime was built; the growth is what the runtime and its tasks \
             took. Spawning the tasks can take longer than the sleeps, so not all of them \
             are pending at once: the last row is the most that were (sleeps spawned minus \
             sleeps done, sampled at each spawn), which the peak depends on.\n",
            thousands(Some(sleeps as u64))
        );
        let _ = writeln!(
            out,
            "Command: `{COMMAND}` (after criterion, the bench re-executes itself with \
             `{PROBE_ENV}=<runtime>` once per runtime).\n"
        );

        let growth = |p: &Probe| Some(p.peak?.saturating_sub(p.before?));
        let rows: [(&str, Vec<Option<u64>>); 4] = [
            ("peak RSS (KiB)", probes.iter().map(|p| p.peak).collect()),
            (
                "before the runtime (KiB)",
                probes.iter().map(|p| p.before).collect(),
            ),
            (
                "growth: peak − before (KiB)",
                probes.iter().map(growth).collect(),
            ),
            (
                "max sleeps pending at once",
                probes.iter().map(|p| p.pending).collect(),
            ),
        ];

        let columns = Columns::new(runtimes);
        columns.header(&mut out, "sleep_many");
        for (label, cells) in &rows {
            let ratio_of = |x: &Option<u64>, base: &Option<u64>| match (x, base) {
                (Some(x), Some(base)) if *base > 0 => ratio(*x as f64 / *base as f64),
                _ => "n/a".to_owned(),
            };
            columns.row(&mut out, label, cells, |cell| thousands(*cell), ratio_of);
        }
        out
    }

    /// `12,345`, or `n/a` (KiB, and counts).
    fn thousands(value: Option<u64>) -> String {
        let Some(value) = value else {
            return "n/a".to_owned();
        };
        let digits = value.to_string();
        let mut out = String::new();
        for (i, digit) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(digit);
        }
        out
    }
}
