//! The record writer: one thread owns the [`RecordDb`] (SQLite work never runs on the
//! async executor) and takes sprays from a bounded queue. Group commit: each
//! transaction takes everything queued when it starts (at most [`MAX_BATCH`]), so while
//! one transaction waits for the disk the next batch gathers, and throughput grows with
//! the number of callers while every record is still on disk before its caller hears of
//! it.
//!
//! ```text
//! commit(record) ──► bounded queue (QUEUE_CAPACITY) ──► writer thread: take 1..MAX_BATCH,
//!   ▲ (waits while full)                                  insert_batch (one transaction,
//!   └──────────── oneshot per record: Ok(AppliedRecord) ◄─ COMMIT synced) or the error
//! ```

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use super::{AppliedRecord, NewRecord, RecordDb, RecordError};

/// Records queued at most; a caller waits for room beyond this.
pub const QUEUE_CAPACITY: usize = 1024;

/// Records committed in one transaction at most.
pub const MAX_BATCH: usize = 256;

/// A record waiting for its commit, and where its outcome goes.
#[derive(Debug)]
struct Job {
    record: NewRecord,
    reply: oneshot::Sender<Result<AppliedRecord, RecordError>>,
}

/// The writer of one record database (see the module's description). Dropping it
/// closes it as [`RecordWriter::close`] does, blocking the dropping thread until the
/// queue is committed; in async code, prefer `close().await`.
#[derive(Debug)]
pub struct RecordWriter {
    queue: Option<mpsc::Sender<Job>>,
    done: Option<oneshot::Receiver<()>>,
    thread: Option<JoinHandle<Result<(), RecordError>>>,
    path: PathBuf,
    committed: Arc<AtomicU64>,
}

impl RecordWriter {
    /// Open (or create) the record at `path` and start its writer. Opening reads and
    /// may migrate the file: call it where blocking briefly is fine (at start-up, or in
    /// `spawn_blocking`).
    pub fn open(path: &Path) -> Result<RecordWriter, RecordError> {
        RecordWriter::new(RecordDb::create_or_open(path)?)
    }

    /// Start the writer of an open database (opened for writing).
    pub fn new(db: RecordDb) -> Result<RecordWriter, RecordError> {
        let path = db.path().to_owned();
        let (queue, jobs) = mpsc::channel(QUEUE_CAPACITY);
        let (done_tx, done) = oneshot::channel();
        let committed = Arc::new(AtomicU64::new(0));
        let counter = committed.clone();
        let thread = std::thread::Builder::new()
            .name("verger-records".into())
            .spawn(move || {
                let result = write(db, jobs, &counter);
                let _ = done_tx.send(());
                result
            })
            .map_err(|e| RecordError::Thread {
                path: path.clone(),
                source: Arc::new(e),
            })?;
        Ok(RecordWriter {
            queue: Some(queue),
            done: Some(done),
            thread: Some(thread),
            path,
            committed,
        })
    }

    /// The file written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Transactions committed so far (the sprays committed divided by this is the
    /// group commit's batch size).
    pub fn transactions(&self) -> u64 {
        self.committed.load(Ordering::Relaxed)
    }

    /// Commit `record`: resolves once its transaction is on disk, with the record as
    /// stored (its `id`, its `recorded_at`), or with the error that failed its
    /// transaction (then nothing of that transaction is in the file: do not report it).
    /// A record that fails [`NewRecord::check`] is refused at once, alone. Waits while
    /// the queue is full. Dropping the future after the record was queued does not
    /// withdraw it: it is committed all the same.
    pub async fn commit(&self, record: NewRecord) -> Result<AppliedRecord, RecordError> {
        record.check()?;
        let closed = || RecordError::Closed {
            path: self.path.clone(),
        };
        let queue = self.queue.as_ref().ok_or_else(closed)?;
        let (reply, outcome) = oneshot::channel();
        queue
            .send(Job { record, reply })
            .await
            .map_err(|_| closed())?;
        outcome.await.map_err(|_| closed())?
    }

    /// Stop taking records, commit every one queued, close the file. The error is the
    /// file's closing (SQLite's), if it failed.
    pub async fn close(mut self) -> Result<(), RecordError> {
        drop(self.queue.take());
        if let Some(done) = self.done.take() {
            // The thread says so just before it ends (or drops the sender if it fails).
            let _ = done.await;
        }
        self.join()
    }

    fn join(&mut self) -> Result<(), RecordError> {
        match self.thread.take().map(JoinHandle::join) {
            None => Ok(()),
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(RecordError::Closed {
                path: self.path.clone(),
            }),
        }
    }
}

impl Drop for RecordWriter {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Err(e) = self.join() {
            tracing::error!("{e}");
        }
    }
}

/// The writer thread: batches from `jobs` until every sender is gone and the queue is
/// empty, then close the file.
fn write(
    mut db: RecordDb,
    mut jobs: mpsc::Receiver<Job>,
    committed: &AtomicU64,
) -> Result<(), RecordError> {
    let mut records = Vec::with_capacity(MAX_BATCH);
    let mut replies = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = jobs.blocking_recv() {
        let mut next = Some(first);
        while let Some(job) = next {
            records.push(job.record);
            replies.push(job.reply);
            next = if records.len() < MAX_BATCH {
                jobs.try_recv().ok()
            } else {
                None
            };
        }
        match db.insert_batch(&records) {
            Ok(applied) => {
                committed.fetch_add(1, Ordering::Relaxed);
                for (reply, record) in replies.drain(..).zip(applied) {
                    let _ = reply.send(Ok(record));
                }
            }
            Err(e) => {
                tracing::error!("{} sprays not recorded: {e}", records.len());
                for reply in replies.drain(..) {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
        records.clear();
    }
    db.close()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::tests::example;
    use crate::sqlite::temp_path;

    fn record(n: usize) -> NewRecord {
        NewRecord {
            plan_id: format!("T-{n}@right:1"),
            tree_id: format!("T-{n}"),
            ..example()
        }
    }

    #[tokio::test]
    async fn each_caller_gets_its_own_record_once_committed() {
        let path = temp_path("writer.db");
        let writer = Arc::new(RecordWriter::open(&path).unwrap());
        let tasks: Vec<_> = (0..300)
            .map(|n| {
                let w = writer.clone();
                tokio::spawn(async move { (n, w.commit(record(n)).await) })
            })
            .collect();
        let mut ids = Vec::new();
        for t in tasks {
            let (n, applied) = t.await.unwrap();
            let applied = applied.unwrap();
            assert_eq!(applied.plan_id, format!("T-{n}@right:1"));
            assert_eq!(NewRecord::from(applied.clone()), record(n));
            ids.push(applied.id);
        }
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 300);
        Arc::into_inner(writer).unwrap().close().await.unwrap();
        // Everything reported is in the file, as reported.
        let db = RecordDb::open_read_only(&path).unwrap();
        assert_eq!(db.sprays(None, None).unwrap().len(), 300);
    }

    #[tokio::test]
    async fn a_bad_record_fails_alone_and_close_commits_the_queue() {
        let path = temp_path("writer-close.db");
        let writer = RecordWriter::open(&path).unwrap();
        let bad = NewRecord {
            closed_at: "soon".into(),
            ..example()
        };
        let (good, bad) = tokio::join!(writer.commit(record(1)), writer.commit(bad));
        assert!(good.is_ok());
        let e = bad.unwrap_err().to_string();
        assert!(e.contains("field `closed_at`"), "{e}");
        // Queued, its future dropped before the answer: committed all the same.
        {
            let pending = writer.commit(record(2));
            tokio::pin!(pending);
            assert!(futures_util::poll!(&mut pending).is_pending());
        }
        writer.close().await.unwrap();
        let db = RecordDb::open_read_only(&path).unwrap();
        let plans: Vec<String> = db
            .sprays(None, None)
            .unwrap()
            .into_iter()
            .map(|r| r.plan_id)
            .collect();
        assert_eq!(plans, ["T-1@right:1", "T-2@right:1"]);
    }

    #[test]
    fn dropping_the_writer_commits_the_queue_first() {
        let path = temp_path("writer-drop.db");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let writer = RecordWriter::open(&path).unwrap();
        runtime.block_on(async {
            let pending = writer.commit(record(7));
            tokio::pin!(pending);
            assert!(futures_util::poll!(&mut pending).is_pending());
        });
        drop(writer);
        let db = RecordDb::open_read_only(&path).unwrap();
        assert_eq!(db.sprays(None, None).unwrap()[0].plan_id, "T-7@right:1");
    }

    #[test]
    fn a_failed_transaction_fails_every_record_of_it_and_the_next_goes_on() {
        let path = temp_path("writer-fail.db");
        let db = RecordDb::create_or_open(&path).unwrap();
        // The database refuses tree T-BAD (as a full disk would refuse anything).
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch(
                "CREATE TRIGGER refuse BEFORE INSERT ON sprays WHEN NEW.tree_id = 'T-BAD' \
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
            )
            .unwrap();
        // Everything queued before the writer starts: the first MAX_BATCH records go in
        // one transaction, the rest in the next; the bad one is the last of the second.
        let (queue, jobs) = mpsc::channel(QUEUE_CAPACITY);
        let mut outcomes = Vec::new();
        for n in 0..MAX_BATCH + 3 {
            let mut record = record(n);
            if n == MAX_BATCH + 2 {
                record.tree_id = "T-BAD".into();
            }
            let (reply, outcome) = oneshot::channel();
            queue.try_send(Job { record, reply }).unwrap();
            outcomes.push(outcome);
        }
        drop(queue);
        let committed = AtomicU64::new(0);
        write(db, jobs, &committed).unwrap();
        assert_eq!(committed.load(Ordering::Relaxed), 1);
        let results: Vec<_> = outcomes
            .into_iter()
            .map(|mut o| o.try_recv().expect("every record gets an answer"))
            .collect();
        assert!(results[..MAX_BATCH].iter().all(Result::is_ok));
        for r in &results[MAX_BATCH..] {
            let e = r.as_ref().unwrap_err().to_string();
            assert!(
                e.contains("writer-fail.db") && e.contains("refused by the test"),
                "{e}"
            );
        }
        let db = RecordDb::open_read_only(&path).unwrap();
        assert_eq!(db.sprays(None, None).unwrap().len(), MAX_BATCH);
    }
}
