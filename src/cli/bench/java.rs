//! `rmqstore bench --vs-java`: Apache RocketMQ's own store (the interop suite's Java drivers,
//! `interop/src/common/java/interop/Bench.java`) on the same cells, run right after rmqstore's
//! cell in the same run, on the same disk.
//!
//! The class path comes from `--java-classpath`, or from the Maven project `interop/` (found
//! with `--interop DIR`, else as `interop/` of the current folder or one above it, else of the
//! source tree this binary was built from): `mvn -q -B -o package -pl rocketmq-V -am` (online
//! when something is missing in `~/.m2`), then `rocketmq-V/target/classes` plus
//! `rocketmq-V/target/classpath.txt`. Each Java cell is one JVM: a short unmeasured warm-up
//! phase, then the measured loop, then one JSON line on stdout.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::LatencyUs;
use crate::cli::{CliError, CliResult};

/// JVM flags of the Java cells: the interop suite's `--add-opens`/`--add-exports` (Java 17
/// needs them for the store's `MappedFile` to unmap) with a broker-like heap and collector
/// (G1, as `runbroker.sh` uses) and the full JIT (the suite's `TieredStopAtLevel=1` is for
/// short test runs, not for speed). `AlwaysPreTouch` as `runbroker.sh`: the heap is faulted in
/// when the JVM starts, not by the first allocations of the measured loop.
pub const JVM_FLAGS: &[&str] = &[
    "-Xms2g",
    "-Xmx2g",
    "-XX:+UseG1GC",
    "-XX:+AlwaysPreTouch",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-exports=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-exports=java.base/jdk.internal.ref=ALL-UNNAMED",
];

/// Which Java store and how it is run; written into bench.json.
#[derive(Debug, Clone, Serialize)]
pub struct JavaInfo {
    /// The interop module (`rocketmq-4.6.0`, ...).
    pub module: String,
    /// `MQVersion` as the store jar reports it (filled from the first Java cell).
    pub version: String,
    pub jvm: String,
    pub jvm_flags: Vec<String>,
    /// Seconds of unmeasured warm-up in each Java cell's JVM.
    pub warmup_seconds: f64,
    #[serde(skip)]
    classpath: String,
}

/// Java's side of a put cell (`Driver bench-put`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JavaPut {
    pub messages: u64,
    pub not_ok: u64,
    pub seconds: f64,
    pub msgs_per_s: f64,
    pub mb_per_s: f64,
    pub record_bytes: f64,
    pub latency_us: LatencyUs,
    pub warmup_messages: u64,
    pub open_ms: f64,
    pub shutdown_ms: f64,
    /// SYNC_FLUSH: the disk's fdatasync p50 measured right before the Java cell (µs).
    #[serde(default)]
    pub fdatasync_p50_before_us: Option<f64>,
}

/// Java's side of a read cell (`Driver bench-get`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JavaGet {
    pub messages: u64,
    pub batches: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub msgs_per_s: f64,
    pub gb_per_s: f64,
    pub latency_us: LatencyUs,
    pub store_bytes: u64,
    pub writer_bytes: u64,
}

/// rmqstore over Java in one cell.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Ratio {
    /// rmqstore's msgs/s over Java's (above 1: rmqstore is faster).
    pub throughput: f64,
    /// Java's p99 over rmqstore's (above 1: rmqstore's p99 is lower).
    pub p99: f64,
}

impl Ratio {
    pub fn new(rmq_rate: f64, java_rate: f64, rmq_p99: f64, java_p99: f64) -> Ratio {
        let div = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        Ratio {
            throughput: div(rmq_rate, java_rate),
            p99: div(java_p99, rmq_p99),
        }
    }
}

/// Runs the Java cells.
pub struct JavaRunner {
    pub info: JavaInfo,
    java: PathBuf,
}

fn missing(what: &str, fix: &str) -> CliError {
    CliError::Input(format!("--vs-java needs {what}: {fix}"))
}

/// `interop/` of `start` or one of its parents.
fn find_interop(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|d| d.join("interop"))
        .find(|d| d.join("pom.xml").is_file())
}

impl JavaRunner {
    /// Finds java, the interop project and the class path of `version`'s module (building it
    /// with Maven when no class path is given).
    pub fn locate(
        classpath: Option<&str>,
        interop: Option<&Path>,
        version: &str,
        warmup_seconds: f64,
    ) -> CliResult<JavaRunner> {
        let java = PathBuf::from("java");
        let jvm = Command::new(&java)
            .arg("-version")
            .output()
            .map_err(|e| {
                missing(
                    "java (a JDK 17) on PATH",
                    &format!("`java -version` failed ({e}); install OpenJDK 17"),
                )
            })
            .map(|o| {
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string()
            })?;
        let module = format!("rocketmq-{version}");
        let classpath = match classpath {
            Some(cp) => cp.to_string(),
            None => {
                let dir = match interop {
                    Some(d) => d.to_path_buf(),
                    None => std::env::current_dir()
                        .ok()
                        .and_then(|d| find_interop(&d))
                        .or_else(|| find_interop(Path::new(env!("CARGO_MANIFEST_DIR"))))
                        .ok_or_else(|| {
                            missing(
                                "the interop Maven project",
                                "run from the rmqstore source tree, or pass --interop DIR \
                                 or --java-classpath CP",
                            )
                        })?,
                };
                if !dir.join(&module).join("pom.xml").is_file() {
                    return Err(CliError::Input(format!(
                        "--vs-java: {} has no module {module} (--java-version is one of 4.6.0, \
                         4.9.8, 5.3.3)",
                        dir.display()
                    )));
                }
                build(&dir, &module)?;
                let target = dir.join(&module).join("target");
                let cp_file = target.join("classpath.txt");
                let deps = std::fs::read_to_string(&cp_file)
                    .map_err(|e| CliError::Input(format!("{}: {e}", cp_file.display())))?;
                format!("{}:{}", target.join("classes").display(), deps.trim())
            }
        };
        Ok(JavaRunner {
            info: JavaInfo {
                module,
                version: String::new(),
                jvm,
                jvm_flags: JVM_FLAGS.iter().map(|s| s.to_string()).collect(),
                warmup_seconds,
                classpath,
            },
            java,
        })
    }

    /// Runs `Driver CMD ARGS` and parses its one JSON line.
    fn run<T: for<'de> Deserialize<'de>>(
        &mut self,
        cmd: &str,
        args: &[(&str, String)],
        extra_jvm: &[String],
    ) -> CliResult<T> {
        let mut c = Command::new(&self.java);
        c.args(JVM_FLAGS).args(extra_jvm).args([
            "-cp",
            &self.info.classpath,
            "interop.Driver",
            cmd,
        ]);
        for (k, v) in args {
            c.arg(format!("--{k}")).arg(v);
        }
        let out = c
            .output()
            .map_err(|e| CliError::Failed(format!("java {cmd}: {e}")))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout.lines().rev().find(|l| l.starts_with('{'));
        let (true, Some(line)) = (out.status.success(), line) else {
            let err = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = err.lines().rev().take(15).collect();
            return Err(CliError::Failed(format!(
                "java {cmd} failed ({}):\n{}",
                out.status,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )));
        };
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| CliError::Failed(format!("java {cmd}: bad JSON line ({e}): {line}")))?;
        if self.info.version.is_empty() {
            self.info.version = v["version"].as_str().unwrap_or("").to_string();
            if let Some(j) = v["jvm"].as_str() {
                self.info.jvm = j.to_string();
            }
        }
        serde_json::from_value(v)
            .map_err(|e| CliError::Failed(format!("java {cmd}: unexpected JSON ({e}): {line}")))
    }

    /// Java's put cell in a fresh store under `root` (removed by the caller).
    #[allow(clippy::too_many_arguments)]
    pub fn put(
        &mut self,
        root: &Path,
        sync: bool,
        transient: bool,
        size: usize,
        threads: usize,
        seconds: f64,
        max_messages: u64,
        max_bytes: u64,
        segment_size: usize,
        queues: i32,
    ) -> CliResult<JavaPut> {
        // The transient pool is 5 direct buffers of a segment each (TransientStorePool).
        let direct = format!(
            "-XX:MaxDirectMemorySize={}",
            6 * segment_size as u64 + (256 << 20)
        );
        let flush = if sync { "SYNC_FLUSH" } else { "ASYNC_FLUSH" };
        let warm = self.info.warmup_seconds;
        self.run(
            "bench-put",
            &[
                ("store", root.display().to_string()),
                ("flush", flush.into()),
                ("transient", transient.to_string()),
                ("body", size.to_string()),
                ("threads", threads.to_string()),
                ("seconds", seconds.to_string()),
                (
                    "max-messages",
                    max_messages.min(i64::MAX as u64).to_string(),
                ),
                ("max-bytes", max_bytes.min(i64::MAX as u64).to_string()),
                ("segment-size", segment_size.to_string()),
                ("queues", queues.to_string()),
                ("warmup-seconds", warm.to_string()),
            ],
            &[direct],
        )
    }

    /// Java's read cell on the store rmqstore wrote under `root` (closed, Java-compatible).
    #[allow(clippy::too_many_arguments)]
    pub fn get(
        &mut self,
        root: &Path,
        place: &str,
        filter: &str,
        threads: usize,
        plan: &super::read::ReadPlan,
        per_queue: u64,
    ) -> CliResult<JavaGet> {
        let warm = self.info.warmup_seconds;
        self.run(
            "bench-get",
            &[
                ("store", root.display().to_string()),
                ("place", place.into()),
                ("filter", filter.into()),
                ("threads", threads.to_string()),
                ("batch", plan.batch.to_string()),
                ("per-queue", per_queue.to_string()),
                ("seconds", plan.seconds_per_cell.to_string()),
                (
                    "max-batches",
                    plan.max_batches_per_thread.min(i64::MAX as u64).to_string(),
                ),
                ("segment-size", plan.segment_size.to_string()),
                ("queues", plan.queues.to_string()),
                ("body", plan.body_size.to_string()),
                ("warmup-seconds", warm.to_string()),
            ],
            &[],
        )
    }
}

/// `mvn package` of one module (offline first, as interop/run.sh does).
fn build(dir: &Path, module: &str) -> CliResult {
    let pom = dir.join("pom.xml");
    let args = |offline: bool| {
        let mut a = vec!["-q", "-B"];
        if offline {
            a.push("-o");
        }
        a
    };
    let run = |offline: bool| {
        Command::new("mvn")
            .args(args(offline))
            .arg("-f")
            .arg(&pom)
            .args(["package", "-DskipTests", "-pl", module, "-am"])
            .output()
    };
    match run(true) {
        Err(e) => Err(missing(
            "Maven (mvn) on PATH to build interop/",
            &format!(
                "{e}; install Maven, or build elsewhere with `mvn -f interop/pom.xml package \
                 -DskipTests` and pass --java-classpath"
            ),
        )),
        Ok(o) if o.status.success() => Ok(()),
        Ok(_) => match run(false) {
            Ok(o) if o.status.success() => Ok(()),
            Ok(o) => Err(CliError::Failed(format!(
                "mvn -f {} package -pl {module} failed:\n{}{}",
                pom.display(),
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ))),
            Err(e) => Err(CliError::Failed(format!("mvn: {e}"))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_say_how_much_better_rmqstore_is() {
        let r = Ratio::new(500.0, 100.0, 10.0, 40.0);
        assert_eq!((r.throughput, r.p99), (5.0, 4.0));
        let z = Ratio::new(500.0, 0.0, 0.0, 40.0);
        assert_eq!((z.throughput, z.p99), (0.0, 0.0));
    }

    #[test]
    fn the_interop_project_is_found_from_the_source_tree() {
        let d = find_interop(Path::new(env!("CARGO_MANIFEST_DIR")).join("src").as_path());
        assert_eq!(
            d,
            Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("interop"))
        );
        assert!(find_interop(Path::new("/")).is_none());
    }

    #[test]
    fn java_results_parse_from_the_drivers_json() {
        let line = r#"{"engine":"java","command":"bench-put","version":"V4_6_0","messages":10,
            "not_ok":0,"seconds":1.0,"msgs_per_s":10.0,"mb_per_s":0.1,"record_bytes":300.0,
            "latency_us":{"samples":3,"mean":2.0,"p50":1.0,"p99":3.0,"p999":3.0,"max":3.0},
            "warmup_messages":5,"open_ms":1.0,"shutdown_ms":2.0}"#;
        let p: JavaPut = serde_json::from_str(line).unwrap();
        assert_eq!((p.messages, p.latency_us.samples), (10, 3));
        assert_eq!(p.fdatasync_p50_before_us, None);
    }
}
