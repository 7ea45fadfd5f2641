//! Master-slave replication over RocketMQ's classic HA protocol (4.x `store/ha`), wire
//! compatible with Java: a Rust master can serve a Java 4.6.0 slave and a Rust slave can follow
//! a Java master.
//!
//! - [`protocol`]: the frame and offset-report codecs (pure).
//! - [`master`]: `HAService`/`HAConnection`: listens on `haListenAddress:haListenPort`, one
//!   connection per slave, a read thread for the slave's offset reports and a write thread
//!   streaming commitlog bytes from where the slave is.
//! - [`slave`]: `HAClient`: connects to `haMasterAddress`, reports its end, appends what the
//!   master sends verbatim at the master's offsets and dispatches it into its own consume
//!   queues and index.
//! - [`sync`]: SYNC_MASTER: puts wait for the slave's acknowledgement.
//!
//! Replication sits above the store: its state (`Replication`) is plugged into every store as
//! it is opened and reaches the store's put path only through `StorePlugin`
//! (`src/store/plugin.rs`); the store never names this module.
//!
//! Replication is started explicitly with [`MessageStore::start_ha`] (opening a store never
//! binds a port); its services stop with the store.
//!
//! Where we differ from Java 4.6.0, on purpose (all invisible on the wire):
//! - The master refuses a slave whose first report is beyond the master's end (Java only
//!   checks later reports) or before the master's first segment (Java would stall), telling it
//!   with one heartbeat frame carrying the master's end (or start) before closing.
//! - The master takes a slave's first report as where to start, not as an acknowledgement:
//!   only reports after the stream started acknowledge SYNC_MASTER puts.
//! - A Rust slave that already has data asks the master to resend up to
//!   [`VERIFY_WINDOW`](slave::VERIFY_WINDOW) bytes before its end and compares them with its
//!   own before appending anything, so a slave whose bytes differ from the master's is detected
//!   instead of extended.

pub mod master;
pub mod protocol;
pub mod slave;
pub mod sync;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use crate::commitlog::CommitLog;
use crate::config::BrokerRole;
use crate::error::{Result, StoreError};
use crate::store::{MessageStore, OpenMode, StoreService};

pub use sync::GroupTransfer;

/// One slave connection as the master sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaveConnection {
    /// The slave's address.
    pub peer: SocketAddr,
    /// The slave's first report: where streaming started (None until it reported).
    pub request_offset: Option<u64>,
    /// The slave's last acknowledged offset (None until it acknowledged anything).
    pub ack_offset: Option<u64>,
    /// Offset the next frame will start at.
    pub sent_offset: u64,
}

/// The slave's replication client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientStatus {
    /// The master this slave connects to.
    pub master_address: Option<String>,
    /// Connected to the master now.
    pub connected: bool,
    /// Connections made so far.
    pub connects: u64,
    /// The last offset reported to the master.
    pub reported_offset: u64,
    /// Frame bytes received (headers included) over all connections.
    pub bytes_received: u64,
    /// The client gave up for good (divergence, wrong geometry); see the status' errors.
    pub stopped: bool,
}

/// What replication is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaStatus {
    /// The store's role.
    pub role: BrokerRole,
    /// Where the master listens (None on a slave).
    pub listen_addr: Option<SocketAddr>,
    /// Connected slaves (master).
    pub slaves: Vec<SlaveConnection>,
    /// `push2SlaveMaxOffset`: the largest offset a slave acknowledged (master).
    pub slave_acked_offset: u64,
    /// The client (slave).
    pub client: Option<ClientStatus>,
    /// A detected divergence between this store's commitlog and its peer's.
    pub divergence: Option<String>,
    /// The last error replication met (transient ones included: refused connections, ...).
    pub last_error: Option<String>,
}

/// Replication's state as the store keeps it, plugged into every store as it is opened
/// (`crate::services`); empty until [`MessageStore::start_ha`]. Through `StorePlugin`
/// (`sync.rs`) the store wakes the senders after an append, makes a SYNC_MASTER put wait for
/// its slave and lists a divergence.
#[derive(Debug, Default)]
pub(crate) struct Replication {
    pub(crate) shared: OnceLock<Arc<HaShared>>,
}

/// State shared by the HA threads, the put path and status readers.
pub struct HaShared {
    pub(crate) transfer: Arc<GroupTransfer>,
    pub(crate) role: BrokerRole,
    pub(crate) listen_addr: Mutex<Option<SocketAddr>>,
    pub(crate) connections: Mutex<Vec<Arc<master::Connection>>>,
    pub(crate) client: Mutex<Option<ClientStatus>>,
    pub(crate) master_address: Mutex<Option<String>>,
    pub(crate) divergence: Mutex<Option<String>>,
    /// A failure that stopped the client for good.
    pub(crate) fatal: Mutex<Option<String>>,
    pub(crate) last_error: Mutex<Option<String>>,
}

impl std::fmt::Debug for HaShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HaShared")
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl HaShared {
    fn new(role: BrokerRole, fallbehind_max: u64, master_address: Option<String>) -> HaShared {
        HaShared {
            transfer: Arc::new(GroupTransfer::new(fallbehind_max)),
            role,
            listen_addr: Mutex::new(None),
            connections: Mutex::new(Vec::new()),
            client: Mutex::new(None),
            master_address: Mutex::new(master_address),
            divergence: Mutex::new(None),
            fatal: Mutex::new(None),
            last_error: Mutex::new(None),
        }
    }

    pub(crate) fn error(&self, msg: String) {
        tracing::warn!("{msg}");
        *self.last_error.lock() = Some(msg);
    }

    pub(crate) fn diverged(&self, msg: String) {
        tracing::error!("HA: {msg}");
        *self.last_error.lock() = Some(msg.clone());
        self.divergence.lock().get_or_insert(msg);
    }

    fn status(&self) -> HaStatus {
        HaStatus {
            role: self.role,
            listen_addr: *self.listen_addr.lock(),
            slaves: self.connections.lock().iter().map(|c| c.status()).collect(),
            slave_acked_offset: self.transfer.acked(),
            client: self.client.lock().clone(),
            divergence: self.divergence.lock().clone(),
            last_error: self.last_error.lock().clone(),
        }
    }
}

/// A handle on a store's replication, returned by [`MessageStore::start_ha`].
#[derive(Debug, Clone)]
pub struct HaHandle {
    shared: Arc<HaShared>,
}

impl HaHandle {
    /// What replication is doing now.
    pub fn status(&self) -> HaStatus {
        self.shared.status()
    }
    /// The address the master listens on (with the real port when `haListenPort` was 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        *self.shared.listen_addr.lock()
    }
    /// `updateMasterAddress`: the slave connects there from its next connection on.
    pub fn set_master_address(&self, addr: &str) {
        *self.shared.master_address.lock() = Some(addr.to_string());
    }
    /// The largest offset a slave acknowledged (master).
    pub fn slave_acked_offset(&self) -> u64 {
        self.shared.transfer.acked()
    }
    /// The number of connected slaves (master).
    pub fn slave_connections(&self) -> usize {
        self.shared.transfer.connections()
    }
}

impl MessageStore {
    /// The replication state plugged into this store.
    fn replication(&self) -> Arc<Replication> {
        self.plugins
            .get::<Replication>()
            .expect("every store is opened with its replication state (crate::services)")
    }

    /// Starts replication as `brokerRole` says: a master (ASYNC_MASTER or SYNC_MASTER) listens
    /// on `haListenAddress:haListenPort` (port 0: any free port, see
    /// [`HaHandle::local_addr`]); a SLAVE connects to `haMasterAddress`. The services stop
    /// when the store shuts down. Only once per store, and only on a store opened for writing.
    pub fn start_ha(&self) -> Result<HaHandle> {
        if self.mode != OpenMode::ReadWrite || self.shut_down {
            return Err(StoreError::ReadOnly);
        }
        let role = self.config.broker_role;
        let shared = Arc::new(HaShared::new(
            role,
            self.config.ha_slave_fallbehind_max,
            self.config.ha_master_address.clone(),
        ));
        let already = || StoreError::Invalid("replication is already started".into());
        let rep = self.replication();
        if rep.shared.get().is_some() {
            return Err(already());
        }
        let io = |e: std::io::Error| StoreError::Invalid(format!("starting replication: {e}"));
        // Start everything first (binding may fail), then publish it to the put path.
        let services: Vec<Box<dyn StoreService>> = if role == BrokerRole::Slave {
            vec![Box::new(
                slave::ClientService::start(
                    shared.clone(),
                    self.commit_log.clone(),
                    self.dispatcher.clone(),
                    &self.config,
                )
                .map_err(io)?,
            )]
        } else {
            let transfer = sync::TransferService::start(shared.transfer.clone()).map_err(io)?;
            let master = master::MasterService::start(
                shared.clone(),
                self.commit_log.clone(),
                &self.config,
            )?;
            vec![Box::new(transfer), Box::new(master)]
        };
        if rep.shared.set(shared.clone()).is_err() {
            // Another start won the race; ours stop as they drop.
            return Err(already());
        }
        for s in services {
            self.add_service(s);
        }
        Ok(HaHandle { shared })
    }

    /// Replication's handle, once started.
    pub fn ha(&self) -> Option<HaHandle> {
        self.replication().shared.get().map(|shared| HaHandle {
            shared: shared.clone(),
        })
    }

    /// Replication's status, once started.
    pub fn ha_status(&self) -> Option<HaStatus> {
        self.replication().shared.get().map(|s| s.status())
    }

    /// `appendToCommitLog` (slave): appends `data`, raw commitlog bytes from a master, at
    /// exactly `offset`, which must be this commitlog's end (or, on an empty commitlog, the
    /// start of a segment); then dispatches every record that is now complete. Only on a SLAVE.
    pub fn append_to_commit_log(&self, offset: u64, data: &[u8]) -> Result<()> {
        if self.mode != OpenMode::ReadWrite || self.shut_down {
            return Err(StoreError::ReadOnly);
        }
        if self.config.broker_role != BrokerRole::Slave {
            return Err(StoreError::Invalid(
                "only a SLAVE appends raw commitlog bytes".into(),
            ));
        }
        self.commit_log.append_data(offset, data)?;
        self.dispatcher.reput_to_committed(&self.commit_log)
    }
}

impl CommitLog {
    /// `CommitLog#appendData` (slave): writes `data` verbatim at `offset`, which must equal
    /// the end of the log; on an empty log it must be the start of a segment (a master streams
    /// from the start of its last segment to an empty slave). The bytes may cross segment
    /// boundaries: they are split at segment ends, new segments created as needed. Under the
    /// put lock, so nothing else appends meanwhile.
    pub fn append_data(&self, offset: u64, data: &[u8]) -> Result<()> {
        let _put = self.lock();
        let files = self.files();
        let size = files.file_size() as u64;
        let end = files.max_offset();
        if offset != end {
            let empty = end == 0 && files.len() <= 1;
            if !empty {
                return Err(StoreError::Invalid(format!(
                    "{}: cannot append at offset {offset}: the commitlog ends at {end}",
                    files.dir().display()
                )));
            }
            if offset % size != 0 {
                return Err(StoreError::Invalid(format!(
                    "{}: an empty commitlog cannot start at offset {offset}: not a multiple of \
                     the segment size {size} (is mappedFileSizeCommitLog the master's?)",
                    files.dir().display()
                )));
            }
            // An empty first segment at 0 (created, nothing kept) gives way to the master's.
            if files.len() == 1 {
                files.remove_last()?;
            }
        }
        let mut at = offset;
        let mut rest = data;
        while !rest.is_empty() {
            let (f, _) = files.last_or_create(at)?;
            let f_end = f.file_from_offset() + f.wrote_position() as u64;
            if f_end != at {
                return Err(StoreError::Invalid(format!(
                    "{}: segment ends at {f_end}, expected {at}",
                    f.path().display()
                )));
            }
            let n = rest.len().min(f.remaining());
            if !f.append(&rest[..n])? {
                return Err(StoreError::Invalid(format!(
                    "{}: {n} bytes do not fit",
                    f.path().display()
                )));
            }
            at += n as u64;
            rest = &rest[n..];
        }
        Ok(())
    }
}
