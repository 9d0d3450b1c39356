//! The script thread: a client's EVAL / FCALL runs here, not on the
//! client's connection thread, so while a long script runs every
//! connection thread stays free to answer BUSY, SCRIPT KILL, FUNCTION
//! STATS and SHUTDOWN NOSAVE (and to accept connections). The connection
//! hands the command over with what the run needs of its client and
//! awaits the reply like a blocked command's; the thread takes the
//! keyspace gate exclusively, runs the command through `exec::call` (stats,
//! slowlog, propagation as one MULTI/EXEC), releases the gate and sends
//! the reply back.
//!
//! Scripts inside MULTI/EXEC, the AOF and a master's stream run inline
//! where they are (their caller already holds what they need).

use crate::client::{Client, ClientInfo};
use crate::commands::Command;
use crate::config::Hot;
use crate::protocol::Out;
use crate::server::Server;
use bytes::Bytes;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};

/// One command for the script thread.
pub struct Job {
    pub srv: Arc<Server>,
    pub cmd: &'static Command,
    pub argv: Vec<Bytes>,
    pub hot: Arc<Hot>,
    pub info: Arc<ClientInfo>,
    /// The caller's ACL user, whose rules the script's commands obey.
    pub user: Option<Arc<crate::acl::User>>,
    pub db: usize,
    pub resp3: bool,
    pub cluster: crate::cluster::ClientFlags,
    pub done: tokio::sync::oneshot::Sender<Done>,
}

/// The reply of a job, for the connection to write.
pub struct Done {
    pub reply: Vec<u8>,
    pub errors: Vec<String>,
    /// The stream offset after what the script propagated (appendfsync always).
    pub offset: u64,
}

const SCRIPT_THREAD_STACK_BYTES: usize = 64 << 20;

static QUEUE: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();

fn sender() -> mpsc::Sender<Job> {
    QUEUE
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Job>();
            std::thread::Builder::new()
                .name("shoal-scripts".into())
                // Deep reply conversions and Lua's own C recursion.
                .stack_size(SCRIPT_THREAD_STACK_BYTES)
                .spawn(move || {
                    while let Ok(job) = rx.recv() {
                        run(job);
                    }
                })
                .expect("start the script thread");
            Mutex::new(tx)
        })
        .lock()
        .expect("script queue")
        .clone()
}

/// Queue `job`; false if the thread is gone (the reply then never comes).
pub fn submit(job: Job) -> bool {
    sender().send(job).is_ok()
}

fn run(job: Job) {
    let srv = &*job.srv;
    let gate = srv.keyspace.gate.write();
    let mut client = Client::new(job.info.clone(), true);
    // Marked so the command runs here rather than being handed off again.
    client.script = true;
    client.user = job.user.clone();
    client.db = job.db;
    client.resp3 = job.resp3;
    client.cluster = job.cluster;
    let mut out = Out::new(job.resp3);
    // The caller's own tracking invalidations (and NOLOOP) as if it ran here.
    crate::tracking::set_current(job.info.id);
    crate::exec::call(srv, &mut client, job.cmd, &job.argv, &mut out, &job.hot);
    crate::tracking::take_own(&mut out.buf);
    crate::tracking::set_current(0);
    drop(gate);
    let _ = job.done.send(Done {
        reply: out.buf.to_vec(),
        errors: std::mem::take(&mut out.errors),
        offset: crate::propagate::last_offset(),
    });
}
