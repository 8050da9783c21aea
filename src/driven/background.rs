//! SDK clients built off the start-up path. Building a client parses its SDK's table of endpoint partitions
//! (about 0.4 M instructions, once per SDK crate; the generated plugin builds the default resolver whatever
//! endpoint or resolver the configuration names). None of it is needed before the first event: BENCHMARKS.md,
//! "What each lever changed".

use std::sync::{Arc, LazyLock};

type Build<C> = Box<dyn FnOnce() -> C + Send>;

/// What builds a client, for `start`.
pub type Task = Box<dyn FnOnce() + Send>;

/// A client built by `start`'s thread, or by whatever needs it first; whatever needs it while it is being
/// built waits for it. Dereferences to the client; cheap to clone: the client is shared.
pub struct Background<C>(Arc<LazyLock<C, Build<C>>>);

impl<C: Send + Sync + 'static> Background<C> {
    /// A client `build` makes: on `start`'s thread, or on first use.
    pub fn lazy(build: impl FnOnce() -> C + Send + 'static) -> Self {
        Self(Arc::new(LazyLock::new(Box::new(build) as Build<C>)))
    }

    /// What builds the client, for `start`.
    pub fn task(&self) -> Task {
        let client = self.0.clone();
        Box::new(move || {
            LazyLock::force(&client);
        })
    }
}

/// Runs the tasks in order on one blocking thread of the current runtime, while start-up goes on (here, outside
/// a runtime). One thread, so that on Lambda's share of a core the first client needed is ready first.
pub fn start(tasks: Vec<Task>) {
    let run = move || tasks.into_iter().for_each(|task| task());
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn_blocking(run)),
        Err(_) => run(),
    }
}

/// A client already built.
impl<C: Send + Sync + 'static> From<C> for Background<C> {
    fn from(client: C) -> Self {
        let client = Self::lazy(move || client);
        LazyLock::force(&client.0);
        client
    }
}

impl<C> std::ops::Deref for Background<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.0
    }
}

impl<C> Clone for Background<C> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<C> std::fmt::Debug for Background<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Background").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::thread::ThreadId;

    use super::{Background, start};

    #[test]
    fn a_client_is_built_once_on_first_use_and_outside_a_runtime_start_builds_at_once() {
        let builds = Arc::new(AtomicUsize::new(0));
        let counted = |builds: &Arc<AtomicUsize>| {
            let builds = builds.clone();
            Background::lazy(move || builds.fetch_add(1, Ordering::SeqCst))
        };
        let used = counted(&builds);
        assert_eq!(builds.load(Ordering::SeqCst), 0, "nothing is built before it is asked for");
        assert_eq!((*used, *used.clone()), (0, 0));
        let started = counted(&builds);
        start(vec![started.task()]);
        assert_eq!(builds.load(Ordering::SeqCst), 2);
        assert_eq!(*started, 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn in_a_runtime_the_clients_are_built_in_order_on_one_blocking_thread_and_waited_for() {
        let main = std::thread::current().id();
        let order: Arc<Mutex<Vec<&str>>> = Arc::default();
        let (started, building) = std::sync::mpsc::channel();
        let built = |name: &'static str| {
            let (order, started) = (order.clone(), started.clone());
            Background::lazy(move || -> ThreadId {
                order.lock().unwrap().push(name);
                let _ = started.send(());
                std::thread::sleep(std::time::Duration::from_millis(20));
                std::thread::current().id()
            })
        };
        let (first, second) = (built("first"), built("second"));
        start(vec![first.task(), second.task()]);
        for _ in 0..2 {
            building.recv_timeout(std::time::Duration::from_secs(10)).expect("the builds start unasked");
        }
        assert_ne!(*second, main, "built off the runtime's thread, and waited for");
        assert_eq!(*first, *second, "one thread");
        assert_eq!(*order.lock().unwrap(), ["first", "second"]);
    }
}
