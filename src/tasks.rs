//! This instance's background tasks and the signal that stops them.
//!
//! Every task holds a [`Stop`] and selects on it between iterations, so a shutdown lets it
//! finish what it holds. Dropping the last handle (and with it the [`Tasks`]) stops them
//! too.

use std::sync::Mutex;

use tokio::{sync::watch, task::JoinHandle};

/// See the [module docs](self).
#[derive(Debug)]
pub(crate) struct Tasks {
    stop: watch::Sender<bool>,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

impl Default for Tasks {
    fn default() -> Self {
        Self {
            stop: watch::Sender::new(false),
            handles: Mutex::new(Vec::new()),
        }
    }
}

impl Tasks {
    /// A stop signal for a new task.
    pub(crate) fn stopped(&self) -> Stop {
        Stop(self.stop.subscribe())
    }

    /// Keeps the tasks to wait for at shutdown.
    pub(crate) fn add(&self, handles: impl IntoIterator<Item = JoinHandle<()>>) {
        self.handles
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(handles);
    }

    /// Signals every task to stop and waits until each has.
    pub(crate) async fn stop(&self) {
        self.stop.send_replace(true);
        let handles = std::mem::take(
            &mut *self
                .handles
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for handle in handles {
            if let Err(err) = handle.await {
                tracing::warn!(error = %err, "a background task ended badly");
            }
        }
    }
}

/// A task's end of the stop signal.
#[derive(Debug)]
pub(crate) struct Stop(watch::Receiver<bool>);

impl Stop {
    /// Resolves once the tasks are told to stop (or their owner is gone).
    pub(crate) async fn wait(&mut self) {
        // An error means the sender is gone: the handle was dropped, so stop as well.
        let _ = self.0.wait_for(|stopped| *stopped).await;
    }
}
