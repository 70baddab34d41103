//! A virtual device's own thread: the receiver and the board each run their task on a
//! thread of their own with a single-threaded tokio runtime, not on the simulator's
//! runtime, where the embedded router, the observer and the test's own work would make
//! them wake late. A late write of the receiver or a late read of the board is
//! magnified by the speed-up (1 ms at 60× is 60 ms of GNSS time, 12 cm at 7 km/h) and
//! would show in the report as the system's placement error.
//!
//! Dropping the handle stops the task and waits for the thread: everything the task
//! held (the pty's master) is closed when the drop returns, so the device is gone.

use std::future::Future;
use std::io;

use tokio::sync::oneshot;

/// A task running on its own thread.
#[derive(Debug)]
pub(crate) struct DeviceThread<T> {
    stop: Option<oneshot::Sender<()>>,
    /// The task's result (only the receiver's is read, and the receiver needs the
    /// `orchard` feature).
    #[cfg_attr(not(feature = "orchard"), allow(dead_code))]
    done: oneshot::Receiver<T>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl<T: Send + 'static> DeviceThread<T> {
    /// Starts a thread named `name`, runs `setup` on it inside its runtime (so that what
    /// it opens is registered with that runtime), then the future `setup` returned,
    /// until it ends or the handle is dropped. `setup`'s error is returned here.
    pub(crate) fn spawn<S, F>(name: &str, setup: S) -> io::Result<DeviceThread<T>>
    where
        S: FnOnce() -> io::Result<F> + Send + 'static,
        F: Future<Output = T> + 'static,
    {
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let (stop, stopped) = oneshot::channel::<()>();
        let (done_tx, done) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let task = match setup() {
                        Ok(task) => task,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    tokio::select! {
                        out = task => { let _ = done_tx.send(out); }
                        _ = stopped => {}
                    }
                });
            })?;
        let ready = ready_rx.recv().unwrap_or_else(|_| {
            Err(io::Error::other(format!(
                "the thread of the {name} stopped while starting"
            )))
        });
        let handle = DeviceThread {
            stop: Some(stop),
            done,
            thread: Some(thread),
        };
        ready.map(|()| handle)
    }

    /// Waits for the task's result; `None` if it was stopped or panicked.
    #[cfg_attr(not(feature = "orchard"), allow(dead_code))]
    pub(crate) async fn finished(&mut self) -> Option<T> {
        (&mut self.done).await.ok()
    }
}

impl<T> Drop for DeviceThread<T> {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_on_its_own_thread_and_returns_its_result() {
        let caller = std::thread::current().id();
        let mut t = DeviceThread::spawn("test device", move || {
            Ok(async move { std::thread::current().id() != caller })
        })
        .unwrap();
        assert_eq!(t.finished().await, Some(true));
    }

    #[tokio::test]
    async fn a_setup_error_is_returned_and_drop_stops_a_task_that_never_ends() {
        let e = DeviceThread::<()>::spawn("test device", || {
            Err::<std::future::Pending<()>, _>(io::Error::other("no such device"))
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "no such device");

        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let t = DeviceThread::spawn("test device", move || {
            Ok(async move {
                let _held = tx;
                std::future::pending::<()>().await
            })
        })
        .unwrap();
        drop(t);
        // The task (and what it held) is gone once the drop returns.
        assert!(rx.recv().is_err());
    }
}
