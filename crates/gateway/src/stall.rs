//! An I/O wrapper for the plain-HTTP path: a read or a write left waiting
//! longer than the idle timeout fails with `TimedOut`, so a hung upstream or
//! a client that stops mid-body cannot hold a connection forever (tunnels
//! have the relay's watchdog instead). Each direction has its own timer,
//! armed when an operation first has to wait; an operation completing in
//! either direction disarms both, so, as for tunnels, the limit is on
//! nothing moving either way (an upstream still taking a long upload is not
//! timed out for not answering yet).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// A timer that runs only while an operation waits (made on first wait).
struct Timer {
    sleep: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

impl Timer {
    fn new() -> Timer {
        Timer {
            sleep: None,
            armed: false,
        }
    }

    /// Passes a finished operation through; on a wait, arms the timer
    /// (once) and fails when it fires.
    fn guard<T>(
        &mut self,
        idle: Duration,
        polled: Poll<io::Result<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<T>> {
        match polled {
            Poll::Ready(r) => Poll::Ready(r),
            Poll::Pending => {
                if !self.armed {
                    let deadline = Instant::now() + idle;
                    match &mut self.sleep {
                        Some(sleep) => sleep.as_mut().reset(deadline),
                        None => self.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
                    }
                    self.armed = true;
                }
                let Some(sleep) = &mut self.sleep else {
                    return Poll::Pending;
                };
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        self.armed = false;
                        Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("nothing moved for {idle:?}"),
                        )))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

/// `inner` with an idle limit on each read and write.
pub(crate) struct Stall<S> {
    inner: S,
    idle: Duration,
    read: Timer,
    write: Timer,
}

impl<S> Stall<S> {
    pub(crate) fn new(inner: S, idle: Duration) -> Stall<S> {
        Stall {
            inner,
            idle,
            read: Timer::new(),
            write: Timer::new(),
        }
    }

    /// The wrapped stream, for a relay that keeps its own idle limit.
    pub(crate) fn into_inner(self) -> S {
        self.inner
    }

    /// Something moved: both directions start their wait afresh.
    fn moved<T>(&mut self, polled: &Poll<io::Result<T>>) {
        if polled.is_ready() {
            self.read.armed = false;
            self.write.armed = false;
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Stall<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        this.moved(&polled);
        this.read.guard(this.idle, polled, cx)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Stall<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.moved(&polled);
        this.write.guard(this.idle, polled, cx)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.moved(&polled);
        this.write.guard(this.idle, polled, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.moved(&polled);
        this.write.guard(this.idle, polled, cx)
    }
}
