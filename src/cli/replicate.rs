//! `rmqstore replicate --from HOST:PORT --store DIR`: runs a slave of a live master (Java or
//! Rust) over the HA protocol and pulls a copy of its commitlog into DIR, building consume
//! queues and index as a slave does, with progress on stderr.
//!
//! An empty DIR starts at the master's last segment (that is what the protocol gives an empty
//! slave); a DIR that already holds a copy resumes from its own end after checking the last
//! 64 KiB against the master. The segment size must be the master's (`--commitlog-size`,
//! default 1 GiB as Java's; discovered from DIR when it already has segments).
//!
//! Nothing is created in DIR before the master answered at `--from`; a master that does not
//! answer within `--connect-timeout` seconds ends the command with exit 2.

use std::fs;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Args;

use super::{CliError, CliResult, GeometryArgs};
use crate::config::BrokerRole;
use crate::inspect::discover_config;
use crate::MessageStore;

#[derive(Debug, Args)]
pub struct ReplicateArgs {
    /// The master's HA address (its haListenPort: broker listenPort + 1, 10912 by default).
    #[arg(long, value_name = "HOST:PORT")]
    pub from: String,
    /// The store root to replicate into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub store: PathBuf,
    /// Stop once no new bytes arrived for this many seconds (caught up), instead of running
    /// until interrupted.
    #[arg(long, value_name = "SECS")]
    pub idle_exit: Option<f64>,
    /// Offset report interval towards the master (haSendHeartbeatInterval).
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    pub heartbeat_ms: u64,
    /// Give up when the master cannot be reached within this many seconds. Nothing is created
    /// in DIR before the master answered.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub connect_timeout: f64,
    #[command(flatten)]
    pub geometry: GeometryArgs,
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

pub fn run(args: &ReplicateArgs) -> CliResult {
    super::args::check_geometry(&args.geometry)?;
    if !(args.connect_timeout.is_finite() && args.connect_timeout > 0.0) {
        return Err(CliError::Input(format!(
            "--connect-timeout {}: a positive number of seconds",
            args.connect_timeout
        )));
    }
    let connect_timeout = Duration::from_secs_f64(args.connect_timeout.min(1e9));
    reach_master(&args.from, connect_timeout)?;
    fs::create_dir_all(&args.store)
        .map_err(|e| CliError::Input(format!("{}: {e}", args.store.display())))?;
    let mut config = discover_config(&args.store, &args.geometry.overrides())?;
    config.broker_role = BrokerRole::Slave;
    config.ha_master_address = Some(args.from.clone());
    config.ha_send_heartbeat_interval_ms = args.heartbeat_ms.max(1);
    let store = MessageStore::open(config)?;
    let ha = store.start_ha()?;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe; the function
    // pointer stays valid for the life of the process.
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_signal as extern "C" fn(libc::c_int) as *const () as libc::sighandler_t,
        );
        libc::signal(
            libc::SIGTERM,
            on_signal as extern "C" fn(libc::c_int) as *const () as libc::sighandler_t,
        );
    }
    let mut last = store.max_phy_offset();
    let mut last_growth = Instant::now();
    let mut last_print = Instant::now();
    let mut ever_connected = false;
    let started = Instant::now();
    eprintln!(
        "replicate: {} from {} (starting at offset {last})",
        args.store.display(),
        args.from
    );
    let outcome = loop {
        std::thread::sleep(Duration::from_millis(50));
        let now = store.max_phy_offset();
        let st = ha.status();
        let connected = st.client.as_ref().is_some_and(|c| c.connected);
        ever_connected |= connected;
        if now != last {
            last_growth = Instant::now();
        }
        if last_print.elapsed() >= Duration::from_secs(1) {
            let rate = (now - last.min(now)) as f64 / last_print.elapsed().as_secs_f64();
            eprintln!(
                "replicate: at offset {now} ({:.0} KiB/s), {}",
                rate / 1024.0,
                if connected {
                    "connected".to_string()
                } else {
                    format!(
                        "connecting ({})",
                        st.last_error.as_deref().unwrap_or("no answer yet")
                    )
                }
            );
            last_print = Instant::now();
            last = now;
        } else if now < last {
            last = now;
        }
        if let Some(e) = store.background_error() {
            break Err(CliError::Failed(format!("replication stopped: {e}")));
        }
        if !ever_connected && started.elapsed() >= connect_timeout {
            break Err(CliError::Input(format!(
                "cannot reach the master at {} within {:?} ({}); it answered a moment ago",
                args.from,
                connect_timeout,
                st.last_error.as_deref().unwrap_or("no answer")
            )));
        }
        if STOP.load(Ordering::SeqCst) {
            break Ok(());
        }
        if let Some(idle) = args.idle_exit {
            if ever_connected && last_growth.elapsed().as_secs_f64() >= idle {
                break Ok(());
            }
        }
    };
    let end = store.max_phy_offset();
    if let Some(report) = store.undispatchable_report() {
        super::warn(&format!("replicate: {report}"));
    }
    store.shutdown()?;
    eprintln!("replicate: stopped at offset {end}");
    outcome
}

/// Checks that `--from` is `HOST:PORT` and that the master answers there, retrying for up to
/// `timeout`, before anything is created: a slave that cannot reach its master leaves no
/// store behind. (Its connection is closed at once; a master forgets a slave that never
/// reported.)
fn reach_master(from: &str, timeout: Duration) -> CliResult {
    let bad = |why: String| CliError::Input(format!("--from {from:?}: {why}"));
    match from.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {}
        _ => return Err(bad("not HOST:PORT (the master's HA port)".into())),
    }
    let started = Instant::now();
    let mut last_error;
    loop {
        match from.to_socket_addrs() {
            Ok(addrs) => {
                let addrs: Vec<_> = addrs.collect();
                last_error = format!("{from} resolves to no address");
                for a in addrs {
                    let left = timeout.saturating_sub(started.elapsed());
                    let wait = left.clamp(Duration::from_millis(100), Duration::from_secs(3));
                    match TcpStream::connect_timeout(&a, wait) {
                        Ok(_) => return Ok(()),
                        Err(e) => last_error = format!("{a}: {e}"),
                    }
                }
            }
            Err(e) => last_error = e.to_string(),
        }
        if STOP.load(Ordering::SeqCst) || started.elapsed() >= timeout {
            return Err(CliError::Input(format!(
                "cannot reach the master at {from} within {:.1} s ({last_error}); nothing was \
                 created",
                timeout.as_secs_f64()
            )));
        }
        std::thread::sleep(
            Duration::from_millis(500).min(timeout.saturating_sub(started.elapsed())),
        );
    }
}
