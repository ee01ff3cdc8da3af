//! What every object holding a Rust thread shares: waits with the GIL released that Ctrl-C can
//! interrupt, closing without holding the GIL, and [`Closeable`], the base class that makes
//! `Client`, `Subscription` and `Watcher` context managers.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::PyClass;

/// Longest time a blocking call waits with the GIL released before it checks for signals
/// (Ctrl-C): short enough to interrupt within 100 ms, long enough to cost nothing.
pub(crate) const WAIT_SLICE: Duration = Duration::from_millis(50);

/// Locks a mutex whose data stays consistent even if a holder panicked (a plain `Option`).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Takes what `slot` holds and drops it with the GIL released: closing joins a thread, which
/// must not hold up other Python threads (or wait for one that needs the GIL).
pub(crate) fn close_released<T: Send>(py: Python<'_>, slot: &Mutex<Option<T>>) {
    let taken = lock(slot).take();
    py.detach(move || drop(taken));
}

/// Seconds (a Python float) as a `Duration`; negative, NaN or infinite values are the caller's
/// mistake.
pub(crate) fn seconds(value: f64, what: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        PyValueError::new_err(format!(
            "{what} must be a finite number of seconds >= 0, got {value}"
        ))
    })
}

/// Waits up to `timeout` (forever if `None`) for `ready` to give a value, with the GIL released,
/// in slices of [`WAIT_SLICE`] between which Python's signal handlers run (so Ctrl-C raises
/// `KeyboardInterrupt` here). `ready` returns `Err` once nothing more can come (and why).
pub(crate) fn wait_interruptibly<T: Send, E: Send>(
    py: Python<'_>,
    timeout: Option<Duration>,
    mut ready: impl FnMut(Duration) -> Result<Option<T>, E> + Send,
) -> PyResult<Result<Option<T>, E>> {
    let deadline = timeout.map(|timeout| Instant::now() + timeout);
    loop {
        let slice = match deadline {
            Some(deadline) => WAIT_SLICE.min(deadline.saturating_duration_since(Instant::now())),
            None => WAIT_SLICE,
        };
        match py.detach(|| ready(slice)) {
            Ok(None) => {}
            done => return Ok(done),
        }
        py.check_signals()?;
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return Ok(Ok(None));
        }
    }
}

/// Base class of the objects that hold a connection or a thread (`Client`, `Subscription`,
/// `Watcher`): `with obj:` calls the object's own `close()` on the way out, exception or not,
/// and lets the exception propagate.
///
/// One base class rather than `__enter__`/`__exit__` in each class: PyO3 allows one
/// `#[pymethods]` block per class without the `multiple-pymethods` feature (and its `inventory`
/// dependency), so the pair cannot be added to each class from one shared definition.
#[pyclass(subclass, frozen, module = "streamkinect2", name = "Closeable")]
pub(crate) struct Closeable;

#[pymethods]
impl Closeable {
    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        slf: &Bound<'_, Self>,
        _exc_type: &Bound<'_, PyAny>,
        _exc_value: &Bound<'_, PyAny>,
        _traceback: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        slf.call_method0("close")?;
        Ok(false)
    }
}

/// A new Python object of a class derived from [`Closeable`].
pub(crate) fn closeable<T>(py: Python<'_>, value: T) -> PyResult<Py<T>>
where
    T: PyClass<BaseType = Closeable>,
{
    Py::new(py, PyClassInitializer::from(Closeable).add_subclass(value))
}
