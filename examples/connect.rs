//! Connects to HOST:PORT with happy eyeballs and prints which address won and how long each
//! attempt took (those that lost the race were cancelled, their sockets closed).
//!
//! Run with `cargo run --example connect -- HOST PORT`, e.g.
//! `cargo run --example connect -- localhost 22`.
//!
//! The timing comes from a connector that wraps the real one ([`TcpConnector`]): the
//! `Connector` trait is how happy eyeballs opens each attempt, so wrapping it observes every
//! attempt, including the ones that are cancelled (their futures are dropped, and the wrapper's
//! guard records that on drop).

use creche::net::{Connector, OpenTcpStream, TcpConnector, TcpStream};
use creche::time::{Instant, current_time};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What happened to one attempt.
struct Attempt {
    addr: SocketAddr,
    started: Duration,
    took: Duration,
    outcome: String,
}

/// The real connector, timing each attempt into `log`.
struct Timed {
    t0: Instant,
    log: Arc<Mutex<Vec<Attempt>>>,
}

/// Records its attempt when dropped: at the end of `connect`, or when the attempt is cancelled.
struct Record<'a> {
    timed: &'a Timed,
    addr: SocketAddr,
    start: Instant,
    outcome: String,
}

impl Drop for Record<'_> {
    fn drop(&mut self) {
        self.timed.log.lock().unwrap().push(Attempt {
            addr: self.addr,
            started: self.start - self.timed.t0,
            took: current_time() - self.start,
            outcome: std::mem::take(&mut self.outcome),
        });
    }
}

impl Connector for Timed {
    type Stream = TcpStream;

    async fn connect(&self, addr: SocketAddr, local: Option<SocketAddr>) -> io::Result<TcpStream> {
        let mut record = Record {
            timed: self,
            addr,
            start: current_time(),
            outcome: "cancelled (another attempt won)".into(),
        };
        let result = TcpConnector.connect(addr, local).await;
        record.outcome = match &result {
            Ok(_) => "connected".into(),
            Err(e) => format!("failed: {e}"),
        };
        result
    }
}

#[creche::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [host, port] = args.as_slice() else {
        eprintln!("usage: cargo run --example connect -- HOST PORT");
        std::process::exit(2);
    };
    let port: u16 = port.parse()?;
    let log = Arc::new(Mutex::new(Vec::new()));
    let t0 = current_time();
    let timed = Timed {
        t0,
        log: log.clone(),
    };
    let result = OpenTcpStream::new(host.as_str(), port)
        .connector(timed)
        .connect()
        .await;
    let elapsed = current_time() - t0;
    let mut attempts = std::mem::take(&mut *log.lock().unwrap());
    attempts.sort_by_key(|a| a.started);
    for a in &attempts {
        println!(
            "  {:<40} started at {:>8.1?}, took {:>8.1?}: {}",
            a.addr.to_string(),
            a.started,
            a.took,
            a.outcome
        );
    }
    match result {
        Ok(stream) => {
            println!("won: {} after {elapsed:.1?}", stream.peer_addr()?);
            Ok(())
        }
        Err(e) => {
            println!("no connection after {elapsed:.1?}");
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
