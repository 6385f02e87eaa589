//! `aoectl`: an ATA over Ethernet client over a raw packet socket, for
//! machines without the Linux aoe driver. It drives the sans-IO
//! [`netboot_aoe::client::Client`].
//!
//! (About 780 lines: one subcommand per function; the raw socket is
//! `netboot-aoe-net`'s, shared with aoed.)

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use netboot_aoe::ata::{get_string, word, Identity};
use netboot_aoe::client::{Client, ClientConfig, Completion, Event, RequestId, TargetInfo};
use netboot_aoe::wire::{self, MacAddr, BROADCAST_SHELF, BROADCAST_SLOT};
use sha2::{Digest, Sha256};

use netboot_aoe_net::{Iface, PacketSocket};

/// ATA over Ethernet client: discover targets, identify, read, write and
/// benchmark them over a raw packet socket (no kernel aoe driver needed).
#[derive(Debug, Parser)]
#[command(name = "aoectl", version, about, long_about)]
struct Cli {
    /// Ethernet interface to use.
    #[arg(long, short = 'i', global = true, value_name = "IFACE")]
    interface: Option<String>,
    /// Target as eSHELF.SLOT (default: the first that answers).
    #[arg(long, short = 't', global = true, value_name = "eN.M", value_parser = parse_target)]
    target: Option<(u16, u8)>,
    /// Seconds to wait for discovery answers.
    #[arg(long, global = true, default_value_t = 1.0, value_name = "SECONDS")]
    wait: f64,
    /// Most outstanding frames (also capped by the target's buffer count).
    #[arg(long, global = true, value_name = "N")]
    window: Option<u16>,
    /// Test hook: drop every Nth received frame.
    #[arg(long, global = true, hide = true, value_name = "N")]
    drop_every: Option<u64>,
    /// Test hook: retransmissions of one command before it fails (default
    /// 10; a loaded test machine may stall the target for seconds).
    #[arg(long, global = true, hide = true, value_name = "N")]
    max_retries: Option<u32>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Broadcast a query config and list the targets that answer.
    Discover,
    /// Print the target's IDENTIFY DEVICE data.
    Identify {
        /// Also print the 256 words in hex.
        #[arg(long)]
        raw: bool,
    },
    /// Read sectors to a file (or stdout).
    Read {
        /// First sector (512 bytes).
        #[arg(long, default_value_t = 0)]
        lba: u64,
        /// Sectors to read (default: to the end of the disk).
        #[arg(long)]
        count: Option<u64>,
        /// Output file (default: stdout).
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
        /// Print the SHA-256 of the data instead of the data.
        #[arg(long)]
        sha256: bool,
    },
    /// Write a file (or stdin) at a sector, then flush.
    Write {
        /// First sector (512 bytes).
        #[arg(long, default_value_t = 0)]
        lba: u64,
        /// Input file (default: stdin). Zero-padded to whole sectors.
        #[arg(long, short = 'f')]
        input: Option<PathBuf>,
        /// Skip the final FLUSH CACHE.
        #[arg(long)]
        no_flush: bool,
    },
    /// Measure sequential read/write MB/s or random-read IOPS.
    Bench {
        /// What to measure.
        #[arg(long, value_enum, default_value = "seq-read")]
        mode: BenchMode,
        /// Bytes to transfer (sequential modes).
        #[arg(long, default_value_t = 64 << 20)]
        size: u64,
        /// Seconds to run (rand-read).
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Bytes per request: a positive multiple of 512.
        #[arg(long, default_value_t = 4096, value_parser = parse_io_size)]
        io_size: u64,
        /// Requests in flight.
        #[arg(long, default_value_t = 32)]
        depth: usize,
    },
    /// Send one hand-made frame (hex) and print the AoE frames that come
    /// back within --wait seconds, in hex.
    Raw {
        /// The frame in hex (colons and spaces allowed), Ethernet header
        /// included: 14 bytes at least.
        #[arg(long, value_parser = hex)]
        frame: Frame,
    },
}

/// What `bench` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BenchMode {
    /// Sequential reads, MB/s.
    SeqRead,
    /// Sequential writes (then a flush), MB/s.
    SeqWrite,
    /// Random reads of --io-size, IOPS.
    RandRead,
}

impl BenchMode {
    fn name(self) -> &'static str {
        match self {
            BenchMode::SeqRead => "seq-read",
            BenchMode::SeqWrite => "seq-write",
            BenchMode::RandRead => "rand-read",
        }
    }
}

/// A hand-made frame for `raw`.
#[derive(Debug, Clone)]
struct Frame(Vec<u8>);

fn parse_io_size(s: &str) -> Result<u64, String> {
    let n: u64 = s.parse().map_err(|e| format!("{e}"))?;
    if n == 0 || n % 512 != 0 {
        return Err(format!("{n} is not a positive multiple of 512"));
    }
    Ok(n)
}

/// Why aoectl stops: a usage error (exit status 2, as clap's own) or a
/// failure while running (1).
#[derive(Debug)]
enum Fail {
    Usage(String),
    Run(String),
}

impl From<String> for Fail {
    fn from(e: String) -> Fail {
        Fail::Run(e)
    }
}

impl From<&str> for Fail {
    fn from(e: &str) -> Fail {
        Fail::Run(e.to_owned())
    }
}

impl std::fmt::Display for Fail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fail::Usage(e) | Fail::Run(e) => f.write_str(e),
        }
    }
}

impl Fail {
    fn exit_code(&self) -> ExitCode {
        match self {
            Fail::Usage(_) => ExitCode::from(2),
            Fail::Run(_) => ExitCode::FAILURE,
        }
    }
}

fn parse_target(s: &str) -> Result<(u16, u8), String> {
    let rest = s.strip_prefix('e').unwrap_or(s);
    let (a, b) = rest.split_once('.').ok_or("expected eSHELF.SLOT")?;
    Ok((
        a.parse().map_err(|e| format!("shelf: {e}"))?,
        b.parse().map_err(|e| format!("slot: {e}"))?,
    ))
}

const BATCH: usize = 32;

/// The client plus its socket and buffers.
struct Session {
    sock: PacketSocket,
    iface: Iface,
    client: Client,
    rx: Vec<Vec<u8>>,
    rx_lens: [usize; BATCH],
    tx: Vec<Vec<u8>>,
    tx_lens: [usize; BATCH],
}

impl Session {
    fn open(cli: &Cli) -> Result<Session, Fail> {
        let name = cli.interface.as_deref().ok_or_else(|| {
            Fail::Usage("--interface (-i) is required: the Ethernet interface to use".into())
        })?;
        let iface = Iface::lookup(name).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                Fail::Usage(format!("--interface {name:?}: no such interface"))
            }
            std::io::ErrorKind::InvalidInput => {
                Fail::Usage(format!("--interface {name:?}: not an interface name"))
            }
            _ => Fail::Run(e.to_string()),
        })?;
        let sock =
            PacketSocket::open(iface.index).map_err(|e| format!("packet socket on {name}: {e}"))?;
        sock.set_buffers(8 << 20);
        let mut cfg = ClientConfig {
            mtu: iface.mtu,
            ..ClientConfig::default()
        };
        if let Some(r) = cli.max_retries {
            cfg.max_retries = r;
        }
        if let Some(w) = cli.window {
            cfg.max_window = w.max(1);
        }
        let mut client = Client::new(iface.mac, cfg);
        if let Some(n) = cli.drop_every {
            client.set_drop_every(n);
        }
        let len = netboot_aoe::client::tx_buffer_len(iface.mtu).max(2048);
        Ok(Session {
            sock,
            iface,
            client,
            rx: (0..BATCH).map(|_| vec![0u8; len + 64]).collect(),
            rx_lens: [0; BATCH],
            tx: (0..BATCH).map(|_| vec![0u8; len]).collect(),
            tx_lens: [0; BATCH],
        })
    }

    /// Sends what the client has, waits for frames or its next time-out
    /// (at most until `limit`), feeds them in. Returns false at `limit`.
    fn step(&mut self, limit: Option<Instant>) -> Result<bool, String> {
        let now = Instant::now();
        let mut k = 0;
        while k < BATCH {
            match self.client.poll_transmit(now, &mut self.tx[k]) {
                Some(n) => {
                    self.tx_lens[k] = n;
                    k += 1;
                }
                None => break,
            }
        }
        if k > 0 {
            let frames: Vec<&[u8]> = (0..k).map(|i| &self.tx[i][..self.tx_lens[i]]).collect();
            self.sock
                .send_batch(&frames)
                .map_err(|e| format!("send: {e}"))?;
        }
        let mut n = self
            .sock
            .recv_batch(&mut self.rx, &mut self.rx_lens)
            .map_err(|e| format!("receive: {e}"))?;
        if n == 0 && k < BATCH {
            let now = Instant::now();
            let mut wake = self.client.poll_timeout();
            if let Some(l) = limit {
                wake = Some(wake.map_or(l, |w| w.min(l)));
            }
            let ms = match wake {
                Some(w) => w
                    .saturating_duration_since(now)
                    .as_micros()
                    .div_ceil(1000)
                    .min(1000) as i32,
                None => 1000,
            };
            if self.sock.wait_readable(ms).map_err(|e| e.to_string())? {
                n = self
                    .sock
                    .recv_batch(&mut self.rx, &mut self.rx_lens)
                    .map_err(|e| format!("receive: {e}"))?;
            }
        }
        // Everything that arrived is looked at before any time-out: after
        // a scheduling delay many answers wait in the socket, and a
        // time-out for one of them would be needless.
        loop {
            let now = Instant::now();
            for i in 0..n {
                self.client.handle(now, &self.rx[i][..self.rx_lens[i]]);
            }
            if n < BATCH {
                break;
            }
            n = self
                .sock
                .recv_batch(&mut self.rx, &mut self.rx_lens)
                .map_err(|e| format!("receive: {e}"))?;
        }
        let now = Instant::now();
        self.client.handle_timeout(now);
        Ok(limit.is_none_or(|l| Instant::now() < l))
    }

    /// Discovers targets: broadcasts a query config at 0, 50, 150, 350,
    /// 750 ms, 1.55, 2.55 and 3.55 s (back-off doubling up to 1 s, so a lost
    /// query or answer costs little) and collects answers for `wait`, or
    /// until the first answer from `target` if one is named. If nothing has
    /// answered once `wait` is over, keeps asking until the tries are used
    /// up.
    fn discover(
        &mut self,
        target: Option<(u16, u8)>,
        wait: Duration,
    ) -> Result<Vec<TargetInfo>, String> {
        const TRIES: u32 = 8;
        let (shelf, slot) = target.unwrap_or((BROADCAST_SHELF, BROADCAST_SLOT));
        let start = Instant::now();
        let end = start + wait;
        let mut found: Vec<TargetInfo> = Vec::new();
        let mut gap = Duration::from_millis(50);
        let mut next_query = start;
        let mut last_query = start;
        let mut tries = 0;
        loop {
            let now = Instant::now();
            if tries < TRIES && now >= next_query {
                self.client.discover(now, shelf, slot);
                tries += 1;
                last_query = now;
                next_query = now + gap;
                gap = (gap * 2).min(Duration::from_secs(1));
            }
            // Answers found: stop at `wait`. None yet: go on querying, and
            // give the last query a second.
            let deadline = if !found.is_empty() {
                Some(end)
            } else if tries >= TRIES {
                Some(end.max(last_query + Duration::from_secs(1)))
            } else {
                None
            };
            if deadline.is_some_and(|d| now >= d) {
                break;
            }
            let limit = match (deadline, tries < TRIES) {
                (Some(d), true) => d.min(next_query),
                (Some(d), false) => d,
                (None, _) => next_query,
            };
            self.step(Some(limit))?;
            while let Some(e) = self.client.poll_event() {
                if let Event::Discovered(t) = e {
                    if !found
                        .iter()
                        .any(|f| f.mac == t.mac && f.shelf == t.shelf && f.slot == t.slot)
                    {
                        found.push(t);
                    }
                }
            }
            if target.is_some() && !found.is_empty() {
                return Ok(found);
            }
        }
        found.sort_by_key(|t| (t.shelf, t.slot, t.mac));
        Ok(found)
    }

    fn attach(&mut self, target: Option<(u16, u8)>, wait: Duration) -> Result<TargetInfo, String> {
        let found = self.discover(target, wait.max(Duration::from_secs(1)))?;
        let t = found.into_iter().next().ok_or_else(|| match target {
            Some((s, l)) => format!("target e{s}.{l} did not answer on {}", self.iface.mac),
            None => "no AoE target answered".to_owned(),
        })?;
        self.client.attach(t.clone());
        Ok(t)
    }

    /// Runs until request `id` is done.
    fn wait(&mut self, id: RequestId) -> Result<Completion, String> {
        loop {
            while let Some(e) = self.client.poll_event() {
                if let Event::Done { id: d, result } = e {
                    if d == id {
                        return result.map_err(|e| e.to_string());
                    }
                }
            }
            self.step(None)?;
        }
    }

    /// Runs until some request is done; returns it.
    fn next_done(&mut self) -> Result<(RequestId, Completion), String> {
        loop {
            while let Some(e) = self.client.poll_event() {
                if let Event::Done { id, result } = e {
                    return result.map(|c| (id, c)).map_err(|e| e.to_string());
                }
            }
            self.step(None)?;
        }
    }

    fn capacity(&mut self) -> Result<u64, String> {
        let id = self.client.identify().map_err(|e| e.to_string())?;
        match self.wait(id)? {
            Completion::Identify(d) => Ok(Identity::sectors_from(&d)),
            _ => Err("unexpected completion".into()),
        }
    }
}

fn main() -> ExitCode {
    netboot_daemon::die_quietly_on_closed_pipe();
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aoectl: {e}");
            e.exit_code()
        }
    }
}

/// Sectors per read/write request in the streaming commands.
const CHUNK: u64 = 256;
/// Requests kept in flight by the streaming commands.
const DEPTH: usize = 8;

fn run(cli: &Cli) -> Result<(), Fail> {
    let wait = Duration::from_secs_f64(cli.wait.clamp(0.01, 60.0));
    let mut s = Session::open(cli)?;
    match &cli.cmd {
        Cmd::Discover => {
            let found = s.discover(cli.target, wait)?;
            if found.is_empty() {
                return Err("no AoE target answered".into());
            }
            for t in found {
                println!(
                    "e{}.{} mac={} buffers={} sectors_per_frame={} firmware={:#06x} aoe_version={} config={:?}",
                    t.shelf,
                    t.slot,
                    t.mac,
                    t.buffer_count,
                    t.sectors_per_frame,
                    t.firmware_version,
                    t.aoe_version,
                    String::from_utf8_lossy(&t.config)
                );
            }
        }
        Cmd::Identify { raw } => {
            let t = s.attach(cli.target, wait)?;
            let id = s.client.identify().map_err(|e| e.to_string())?;
            let Completion::Identify(d) = s.wait(id)? else {
                return Err("unexpected completion".into());
            };
            let sectors = Identity::sectors_from(&d);
            println!("target: e{}.{} ({})", t.shelf, t.slot, t.mac);
            println!("model: {}", get_string(&d[54..94]));
            println!("serial: {}", get_string(&d[20..40]));
            println!("firmware: {}", get_string(&d[46..54]));
            println!("sectors: {sectors}");
            println!("bytes: {}", sectors * 512);
            println!(
                "lba48: {}",
                if word(&d, 83) & 0x0400 != 0 {
                    "yes"
                } else {
                    "no"
                }
            );
            let w106 = word(&d, 106);
            let phys = if w106 & 0xc000 == 0x4000 && w106 & 0x2000 != 0 {
                512u32 << (w106 & 0xf)
            } else {
                512
            };
            println!("physical_sector_size: {phys}");
            if *raw {
                for (i, c) in d.chunks(16).enumerate() {
                    let words: Vec<String> = c
                        .chunks(2)
                        .map(|w| format!("{:04x}", u16::from_le_bytes([w[0], w[1]])))
                        .collect();
                    println!("{:3}: {}", i * 8, words.join(" "));
                }
            }
        }
        Cmd::Read {
            lba,
            count,
            output,
            sha256,
        } => {
            let t = s.attach(cli.target, wait)?;
            let count = match count {
                Some(c) => *c,
                None => {
                    let sectors = s.capacity()?;
                    if *lba >= sectors {
                        return Err(Fail::Run(format!(
                            "--lba {lba} is past the end of e{}.{} ({sectors} sectors: 0-{})",
                            t.shelf,
                            t.slot,
                            sectors.saturating_sub(1)
                        )));
                    }
                    sectors - lba
                }
            };
            let mut out: Box<dyn Write> = match output {
                Some(p) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(p).map_err(|e| format!("{}: {e}", p.display()))?,
                )),
                None => Box::new(std::io::stdout().lock()),
            };
            let mut hasher = Sha256::new();
            let mut next = 0u64;
            let mut inflight: BTreeMap<RequestId, u64> = BTreeMap::new();
            let mut ready: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
            let mut written = 0u64;
            while written < count {
                while inflight.len() < DEPTH && next < count {
                    let n = (count - next).min(CHUNK);
                    let id = s
                        .client
                        .read(lba + next, n as u32)
                        .map_err(|e| e.to_string())?;
                    inflight.insert(id, next);
                    next += n;
                }
                let (id, c) = s.next_done()?;
                let Completion::Read(data) = c else {
                    return Err("unexpected completion".into());
                };
                let at = inflight.remove(&id).ok_or("unknown request")?;
                ready.insert(at, data);
                while let Some(data) = ready.remove(&written) {
                    if *sha256 {
                        hasher.update(&data);
                    } else {
                        out.write_all(&data).map_err(|e| e.to_string())?;
                    }
                    written += (data.len() / 512) as u64;
                }
            }
            out.flush().map_err(|e| e.to_string())?;
            if *sha256 {
                let d = hasher.finalize();
                println!(
                    "{}",
                    d.iter().map(|b| format!("{b:02x}")).collect::<String>()
                );
            }
        }
        Cmd::Write {
            lba,
            input,
            no_flush,
        } => {
            s.attach(cli.target, wait)?;
            let mut data = Vec::new();
            match input {
                Some(p) => data = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?,
                None => {
                    std::io::stdin()
                        .read_to_end(&mut data)
                        .map_err(|e| e.to_string())?;
                }
            }
            data.resize(data.len().div_ceil(512) * 512, 0);
            let mut ids = Vec::new();
            for (i, chunk) in data.chunks(CHUNK as usize * 512).enumerate() {
                while ids.len() >= DEPTH {
                    s.next_done()?;
                    ids.remove(0);
                }
                let id = s
                    .client
                    .write(lba + i as u64 * CHUNK, chunk.to_vec())
                    .map_err(|e| e.to_string())?;
                ids.push(id);
            }
            while !ids.is_empty() {
                s.next_done()?;
                ids.remove(0);
            }
            if !no_flush {
                let id = s.client.flush().map_err(|e| e.to_string())?;
                s.wait(id)?;
            }
            eprintln!("wrote {} sectors at {lba}", data.len() / 512);
        }
        Cmd::Bench {
            mode,
            size,
            seconds,
            io_size,
            depth,
        } => {
            s.attach(cli.target, wait)?;
            bench(&mut s, *mode, *size, *seconds, *io_size, (*depth).max(1))?;
        }
        Cmd::Raw { frame } => {
            let bytes = &frame.0;
            s.sock.send(bytes).map_err(|e| format!("send: {e}"))?;
            let until = Instant::now() + wait;
            while Instant::now() < until {
                let ms = until
                    .saturating_duration_since(Instant::now())
                    .as_millis()
                    .max(1) as i32;
                if !s.sock.wait_readable(ms).map_err(|e| e.to_string())? {
                    continue;
                }
                let n = s
                    .sock
                    .recv_batch(&mut s.rx, &mut s.rx_lens)
                    .map_err(|e| e.to_string())?;
                for i in 0..n {
                    let f = &s.rx[i][..s.rx_lens[i]];
                    if let Ok((eth, aoe, _)) = wire::parse_headers(f) {
                        if aoe.flags.response
                            && eth.src != MacAddr(bytes[6..12].try_into().unwrap_or([0; 6]))
                        {
                            println!(
                                "{}",
                                f.iter().map(|b| format!("{b:02x}")).collect::<String>()
                            );
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

fn hex(s: &str) -> Result<Frame, String> {
    let s: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    if s.len() % 2 != 0 || s.len() < 28 || !s.is_ascii() {
        return Err("expected an even number of hex digits, 14 bytes at least".into());
    }
    (0..s.len() / 2)
        .map(|i| {
            u8::from_str_radix(&s[2 * i..2 * i + 2], 16)
                .map_err(|e| format!("{:?} at byte {i}: {e}", &s[2 * i..2 * i + 2]))
        })
        .collect::<Result<Vec<u8>, String>>()
        .map(Frame)
}

/// The client's loss-recovery counters as JSON members.
fn stats_json(c: &Client) -> String {
    let st = c.stats();
    format!(
        "\"retransmits\":{},\"fast_retransmits\":{},\"timeouts\":{},\"spurious\":{},\"window_cuts\":{},\"window\":{}",
        st.retransmits,
        st.fast_retransmits,
        st.timeouts,
        st.spurious,
        st.window_cuts,
        c.window()
    )
}

fn bench(
    s: &mut Session,
    mode: BenchMode,
    size: u64,
    seconds: f64,
    io_size: u64,
    depth: usize,
) -> Result<(), String> {
    let sectors = s.capacity()?;
    let per = io_size / 512;
    if per > sectors {
        return Err("disk smaller than --io-size".into());
    }
    let start = Instant::now();
    let mut ios = 0u64;
    let mut inflight = 0usize;
    match mode {
        BenchMode::SeqRead | BenchMode::SeqWrite => {
            let total = (size / 512).min(sectors);
            let write = mode == BenchMode::SeqWrite;
            let payload = vec![0x5au8; io_size as usize];
            let mut next = 0u64;
            let mut done = 0u64;
            while done < total {
                while inflight < depth && next < total {
                    let n = (total - next).min(per);
                    if write {
                        s.client.write(next, payload[..n as usize * 512].to_vec())
                    } else {
                        s.client.read(next, n as u32)
                    }
                    .map_err(|e| e.to_string())?;
                    next += n;
                    inflight += 1;
                }
                let (_, c) = s.next_done()?;
                inflight -= 1;
                ios += 1;
                done += match c {
                    Completion::Read(d) => d.len() as u64 / 512,
                    _ => per.min(total - done),
                };
            }
            if write {
                let id = s.client.flush().map_err(|e| e.to_string())?;
                s.wait(id)?;
            }
            let secs = start.elapsed().as_secs_f64();
            println!(
                "{{\"mode\":\"{}\",\"bytes\":{},\"seconds\":{secs:.3},\"mb_per_s\":{:.1},\"iops\":{:.0},{}}}",
                mode.name(),
                total * 512,
                (total * 512) as f64 / secs / 1e6,
                ios as f64 / secs,
                stats_json(&s.client)
            );
        }
        BenchMode::RandRead => {
            let until = start + Duration::from_secs_f64(seconds);
            let slots = sectors / per;
            let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(std::process::id());
            loop {
                let running = Instant::now() < until;
                while running && inflight < depth {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    s.client
                        .read((x % slots) * per, per as u32)
                        .map_err(|e| e.to_string())?;
                    inflight += 1;
                }
                if inflight == 0 {
                    break;
                }
                s.next_done()?;
                inflight -= 1;
                ios += 1;
            }
            let secs = start.elapsed().as_secs_f64();
            println!(
                "{{\"mode\":\"rand-read\",\"bytes\":{},\"seconds\":{secs:.3},\"mb_per_s\":{:.1},\"iops\":{:.0},{}}}",
                ios * io_size,
                (ios * io_size) as f64 / secs / 1e6,
                ios as f64 / secs,
                stats_json(&s.client)
            );
        }
    }
    Ok(())
}
