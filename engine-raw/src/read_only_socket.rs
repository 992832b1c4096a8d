//! The pooled engine connections' socket, registered with the runtime for
//! readability only.
//!
//! Why: tokio registers every socket for reads and writes, edge-triggered.
//! On a unix socket the engine's read of our request frees buffer space,
//! which signals writability: with a write registration the agent would be
//! woken for nothing once per engine read (an `EPOLLOUT`-only wake-up
//! between the request and the answer; docs/verbs.md), and the engine would
//! pay for sending it on its way to answering. Pooled connections carry
//! only GETs, whose few hundred bytes always fit an idle connection's
//! socket buffer; should a write ever find it full, it is retried after a
//! short sleep instead of waiting for a writability event this
//! registration never gets.

use std::future::Future;
use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::time::Sleep;

/// How long a write that found the socket buffer full waits to retry.
const WRITE_RETRY: Duration = Duration::from_millis(1);

/// A connected unix stream whose reads wait on readiness and whose writes
/// go straight to the socket.
pub(super) struct ReadOnlySocket {
    fd: AsyncFd<UnixStream>,
    retry: Option<Pin<Box<Sleep>>>,
}

impl ReadOnlySocket {
    /// Re-registers a connected stream for readability only.
    pub(super) fn new(stream: tokio::net::UnixStream) -> io::Result<ReadOnlySocket> {
        // into_std leaves the socket non-blocking.
        let stream = stream.into_std()?;
        // SAFETY: `stream` owns its open descriptor, and the `AsyncFd` owns
        // `stream`: nothing else can close or replace the descriptor while
        // it is registered (the registration ends before `stream` drops).
        #[allow(unsafe_code)]
        let fd = unsafe { AsyncFd::register_with_interest(stream, Interest::READABLE)? };
        Ok(ReadOnlySocket { fd, retry: None })
    }

    /// Runs `op` now, or after the retry sleep when the last try found
    /// the socket buffer full.
    fn poll_write_with(
        &mut self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&UnixStream) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        loop {
            if let Some(sleep) = self.retry.as_mut() {
                ready!(sleep.as_mut().poll(cx));
                self.retry = None;
            }
            match op(self.fd.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.retry = Some(Box::pin(tokio::time::sleep(WRITE_RETRY)));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                done => return Poll::Ready(done),
            }
        }
    }
}

impl AsyncRead for ReadOnlySocket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|fd| fd.get_ref().read(unfilled)) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                // Not readable after all: readiness was cleared, wait again.
                Err(_would_block) => {}
            }
        }
    }
}

impl AsyncWrite for ReadOnlySocket {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_with(cx, |mut s| s.write(data))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_with(cx, |mut s| s.write_vectored(bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.fd.get_ref().shutdown(Shutdown::Write))
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn reads_wait_for_the_peer_and_see_its_close() {
        let (ours, mut peer) = tokio::net::UnixStream::pair().unwrap();
        let mut ours = ReadOnlySocket::new(ours).unwrap();
        let writer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            peer.write_all(b"answer").await.unwrap();
        });
        let mut got = Vec::new();
        ours.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"answer");
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn a_write_larger_than_the_socket_buffer_still_completes() {
        let (ours, mut peer) = tokio::net::UnixStream::pair().unwrap();
        let mut ours = ReadOnlySocket::new(ours).unwrap();
        let data: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 251) as u8).collect();
        let expected = data.clone();
        // A slow reader: the buffer fills and writes must wait and retry.
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                tokio::time::sleep(Duration::from_millis(1)).await;
                match peer.read(&mut chunk).await.unwrap() {
                    0 => return got,
                    n => got.extend_from_slice(&chunk[..n]),
                }
            }
        });
        ours.write_all(&data).await.unwrap();
        ours.shutdown().await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(20), reader)
            .await
            .expect("the reader got everything in time")
            .unwrap();
        assert!(got == expected, "bytes differ or are missing");
    }
}
