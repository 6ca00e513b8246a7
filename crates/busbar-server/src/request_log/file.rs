//! The file sink: records appended to a JSONL file on a thread of their
//! own, the file rotated by size.
//!
//! The thread sleeps until a record arrives, then lingers [`LINGER`] taking
//! whatever else arrives, writing through a buffer, before it flushes and
//! sleeps again: under load it wakes a few times a second instead of once
//! per record (each wake is a context switch that, on a busy core, costs
//! the requests more than the record's own writing), and a record still
//! reaches the file within [`LINGER`] of its request's end. Rotation renames
//! `FILE.K-1` → `FILE.K`, …, `FILE` → `FILE.1` and starts a new `FILE`; the
//! oldest beyond `keep` is overwritten by the rename (or, with `keep: 0`,
//! the file is deleted).

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::mpsc::Receiver;

use crate::record::{dropped, Message};

/// How often a failing file is reported in the log, at most.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// How long the thread goes on taking records after the one that woke it.
const LINGER: Duration = Duration::from_millis(50);

/// How long it sleeps between looks at the queue while lingering.
const LINGER_STEP: Duration = Duration::from_millis(10);

/// Opens `path` (so a path that cannot be written stops the start) and
/// starts the thread that writes `queue` to it.
pub(super) fn start(
    path: &Path,
    max_bytes: u64,
    keep: u32,
    queue: Receiver<Message>,
) -> io::Result<()> {
    let file = Rotating::open(path.to_owned(), max_bytes, keep)?;
    std::thread::Builder::new()
        .name("busbar-request-log".into())
        .spawn(move || run(file, queue))?;
    Ok(())
}

fn run(mut file: Rotating, mut queue: Receiver<Message>) {
    let mut warned: Option<Instant> = None;
    // Sleeps until a record (or a flush) arrives.
    while let Some(first) = queue.blocking_recv() {
        let woke = Instant::now();
        let mut next = Some(first);
        loop {
            while let Some(message) = next.take() {
                handle(&mut file, message, &mut warned);
                next = match queue.try_recv() {
                    Ok(message) => Some(message),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Disconnected) => {
                        flush(&mut file, &mut warned);
                        return;
                    }
                };
            }
            if woke.elapsed() >= LINGER {
                break;
            }
            std::thread::sleep(LINGER_STEP);
            next = match queue.try_recv() {
                Ok(message) => Some(message),
                Err(TryRecvError::Empty) => continue,
                Err(TryRecvError::Disconnected) => break,
            };
        }
        flush(&mut file, &mut warned);
    }
    flush(&mut file, &mut warned);
}

fn handle(file: &mut Rotating, message: Message, warned: &mut Option<Instant>) {
    match message {
        Message::Record(line) => {
            if let Err(error) = file.write(&line) {
                dropped("file", 1);
                warn(warned, &file.path, &error);
            }
        }
        Message::Flush(done) => {
            flush(file, warned);
            let _ = done.send(());
        }
    }
}

fn flush(file: &mut Rotating, warned: &mut Option<Instant>) {
    if let Err(error) = file.flush() {
        warn(warned, &file.path, &error);
    }
}

fn warn(warned: &mut Option<Instant>, path: &Path, error: &io::Error) {
    let now = Instant::now();
    if warned.is_none_or(|at| now.duration_since(at) >= WARN_EVERY) {
        *warned = Some(now);
        tracing::warn!(path = %path.display(), %error, "the request log file cannot be written; records are dropped");
    }
}

/// A file that rotates when it would pass `max_bytes`.
struct Rotating {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    /// `None` after a failed rotation, until a reopen succeeds.
    writer: Option<BufWriter<File>>,
    /// Bytes in the file, written or buffered.
    size: u64,
}

impl Rotating {
    fn open(path: PathBuf, max_bytes: u64, keep: u32) -> io::Result<Self> {
        let file = open(&path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            path,
            max_bytes,
            keep,
            writer: Some(BufWriter::with_capacity(64 * 1024, file)),
            size,
        })
    }

    fn write(&mut self, line: &[u8]) -> io::Result<()> {
        let length = line.len() as u64;
        if self.size > 0 && self.size.saturating_add(length) > self.max_bytes {
            self.rotate()?;
        }
        let writer = match &mut self.writer {
            Some(writer) => writer,
            None => self.writer.insert(BufWriter::new(open(&self.path)?)),
        };
        writer.write_all(line)?;
        self.size = self.size.saturating_add(length);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.writer {
            Some(writer) => writer.flush(),
            None => Ok(()),
        }
    }

    fn rotate(&mut self) -> io::Result<()> {
        if let Some(mut writer) = self.writer.take() {
            writer.flush()?;
        }
        if self.keep == 0 {
            remove(&self.path)?;
        } else {
            for index in (1..self.keep).rev() {
                rename(
                    &numbered(&self.path, index),
                    &numbered(&self.path, index + 1),
                )?;
            }
            rename(&self.path, &numbered(&self.path, 1))?;
        }
        let file = open(&self.path)?;
        self.size = file.metadata()?.len();
        self.writer = Some(BufWriter::with_capacity(64 * 1024, file));
        Ok(())
    }
}

/// `PATH.index`.
fn numbered(path: &Path, index: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{index}"));
    PathBuf::from(name)
}

fn rename(from: &Path, to: &Path) -> io::Result<()> {
    match std::fs::rename(from, to) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

fn remove(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Opens `path` for appending, creating it readable by its owner only: it
/// may hold prompts and replies.
fn open(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("busbar-request-log-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("a temporary directory");
        path
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_default()
    }

    #[test]
    fn a_file_rotates_before_it_would_pass_its_size_and_keeps_k() {
        let dir = dir("rotate");
        let path = dir.join("requests.jsonl");
        let mut file = Rotating::open(path.clone(), 20, 2).expect("opened");
        for n in 0..5 {
            file.write(format!("record-{n}-xxxxx\n").as_bytes())
                .expect("written");
        }
        file.flush().expect("flushed");
        // 15 bytes a line: one line per file, the two before it kept.
        assert_eq!(read(&path), "record-4-xxxxx\n");
        assert_eq!(read(&numbered(&path, 1)), "record-3-xxxxx\n");
        assert_eq!(read(&numbered(&path, 2)), "record-2-xxxxx\n");
        assert!(!numbered(&path, 3).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn keep_zero_starts_the_file_afresh() {
        let dir = dir("keep0");
        let path = dir.join("requests.jsonl");
        std::fs::write(&path, "an old line that is long enough\n").expect("seeded");
        let mut file = Rotating::open(path.clone(), 40, 0).expect("opened");
        file.write(b"new line\n").expect("written");
        file.flush().expect("flushed");
        assert_eq!(read(&path), "new line\n");
        assert!(!numbered(&path, 1).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
