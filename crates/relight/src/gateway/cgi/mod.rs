//! The CGI gateway (lighttpd's mod_cgi): a request runs its script as a process of its own,
//! started and reaped by the supervisor ([`supervisor::OnceProcess`]: the one reaper, a process
//! group per script). The request body streams into the script's stdin while its stdout
//! streams back as a CGI response, both with backpressure and bounded memory.
//!
//! Every run ends: the response ends when stdout reaches EOF, or when the script has exited
//! and nothing more comes for [`EXIT_IDLE`] (a background child that kept stdout open does not
//! hold the response, as it does in lighttpd and Apache; the descendant policy is applied to it
//! when the script exits). A request timeout, a read or write timeout, a client that leaves,
//! and shutdown stop the script's group (signal, grace, SIGKILL). At most `max_procs` scripts
//! of a rule run at once; more requests wait `queue_timeout`, then get 503. Must never wait for
//! a process itself: its exit comes from the reaper.

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{Response, StatusCode};
use nix::sys::signal::Signal;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::sync::{Semaphore, oneshot};
use tokio::time::Instant;

use supervisor::{DescendantPolicy, OnceProcess, OnceSpec, Reason, SpawnSpec, Supervisor};

use super::response_head::read_head;
use super::{ClientLimits, DeclaredLength, GatewayError, RequestBody, cut_off};
use crate::config::{CgiConfig, Descendants, MatchRule};
use crate::http::body::Body;
use crate::http::pages::status_page;

/// After the script exits, how long its stdout may stay silent before the response ends (what
/// is still in the pipe is read first; only a descendant could write more).
pub(crate) const EXIT_IDLE: Duration = Duration::from_millis(250);

/// How much of the script's output is read at once.
const CHUNK: usize = 16 << 10;

/// One `[[cgi]]` rule as the gateway runs it.
#[derive(Debug)]
pub(crate) struct Cgi {
    /// Its name, in logs and status.
    pub name: String,
    /// The rules that select its scripts.
    pub matches: Vec<MatchRule>,
    /// The interpreter, if the script is not run itself.
    pub interpreter: Option<PathBuf>,
    /// Only executable files run.
    pub execute_x_only: bool,
    request_timeout: Option<Duration>,
    read_timeout: Duration,
    write_timeout: Duration,
    queue_timeout: Duration,
    places: Arc<Semaphore>,
    max_procs: usize,
    env: Vec<(OsString, OsString)>,
    ids: Result<(Option<u32>, Option<u32>), String>,
    kill_signal: Signal,
    kill_grace: Duration,
    descendants: DescendantPolicy,
    /// X-Sendfile's allowed directories, when X-Sendfile is on.
    pub x_sendfile: Option<Vec<PathBuf>>,
    /// Serves requests outside of scopes.
    pub global: bool,
    /// RFC 3875 local redirects are served internally (cgi.local-redir).
    pub local_redirect: bool,
    /// Upgrade requests (WebSocket) reach the script, whose 101 joins it to the client.
    pub upgrade: bool,
    sup: Option<Arc<Supervisor>>,
    /// What its scripts did, for the status page and /metrics.
    pub stats: CgiStats,
}

/// Counts of a rule's runs.
#[derive(Debug, Default)]
pub(crate) struct CgiStats {
    /// Scripts started.
    pub started: AtomicU64,
    /// Scripts that ended by themselves with exit code 0.
    pub succeeded: AtomicU64,
    /// Scripts that failed: could not start, exited non-zero, died of a signal.
    pub failed: AtomicU64,
    /// Scripts relight stopped: timeouts, clients gone, shutdown.
    pub stopped: AtomicU64,
    /// Requests refused with 503 because `max_procs` scripts were running.
    pub refused: AtomicU64,
}

impl Cgi {
    /// The rule of `c` (the `index`th), running its scripts under `sup` as `ids` (uid, gid;
    /// `Err`: why its user or group cannot be taken, said for each request).
    pub(crate) fn new(
        c: &CgiConfig,
        index: usize,
        sup: Option<&Arc<Supervisor>>,
        ids: Result<(Option<u32>, Option<u32>), String>,
    ) -> Cgi {
        let mut env: Vec<(OsString, OsString)> = c
            .copy_env
            .iter()
            .filter_map(|k| std::env::var_os(k).map(|v| (OsString::from(k), v)))
            .collect();
        env.extend(
            c.env
                .iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v))),
        );
        Cgi {
            name: c.name_or(index),
            matches: c.matches.clone(),
            interpreter: c.interpreter.clone(),
            execute_x_only: c.execute_x_only,
            request_timeout: c.request_timeout(),
            read_timeout: c.read_timeout.0,
            write_timeout: c.write_timeout.0,
            queue_timeout: c.queue_timeout.0,
            places: Arc::new(Semaphore::new(c.max_procs)),
            max_procs: c.max_procs,
            env,
            ids,
            kill_signal: c.kill_signal.0,
            kill_grace: c.kill_grace.0,
            descendants: match c.descendants {
                Descendants::Kill => DescendantPolicy::Kill,
                Descendants::Keep => DescendantPolicy::Keep,
            },
            x_sendfile: c.x_sendfile.then(|| c.x_sendfile_docroot.clone()),
            global: c.global,
            local_redirect: c.local_redirect,
            upgrade: c.upgrade,
            sup: sup.cloned(),
            stats: CgiStats::default(),
        }
    }

    /// How many of its scripts run now.
    pub(crate) fn running(&self) -> usize {
        self.max_procs - self.places.available_permits()
    }

    /// The most that may run at once.
    pub(crate) fn max_procs(&self) -> usize {
        self.max_procs
    }
}

/// One run: the script file, its environment (the CGI variables), its body and limits.
#[derive(Debug)]
pub(crate) struct Run {
    /// The script's file.
    pub script: PathBuf,
    /// The CGI variables.
    pub env: Vec<(OsString, OsString)>,
    /// The request body.
    pub body: RequestBody,
    /// The client side's limits.
    pub limits: ClientLimits,
    /// The request, in log lines.
    pub what: String,
    /// The client's connection once its 101 is sent, and the protocol it asked for: a script
    /// that answers 101 is joined to it (cgi.upgrade).
    pub upgrade: Option<(crate::http::client_body::OnUpgrade, http::HeaderValue)>,
}

type HeadTx = oneshot::Sender<Result<Response<Body>, GatewayError>>;

/// Runs `run` with rule `cgi` and returns the response; its body streams from a task that owns
/// the process.
pub(crate) async fn forward(cgi: Arc<Cgi>, run: Run) -> Response<Body> {
    let what = run.what.clone();
    let script = run.script.display().to_string();
    let (head_tx, head_rx) = oneshot::channel();
    tokio::spawn(exchange(cgi.clone(), run, head_tx));
    match head_rx.await {
        Ok(Ok(resp)) => resp,
        Ok(Err(e)) => {
            tracing::error!(
                "cgi \"{}\": {what} ({script}): {e} -> {}",
                cgi.name,
                e.status().as_u16()
            );
            e.response()
        }
        Err(_) => {
            tracing::error!(
                "cgi \"{}\": {what} ({script}): ended without an answer",
                cgi.name
            );
            status_page(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// The task that owns one script's process: waits for a place, starts it, feeds its stdin and
/// reads its stdout into the response.
async fn exchange(cgi: Arc<Cgi>, run: Run, mut head_tx: HeadTx) {
    let Run {
        script,
        env,
        mut body,
        limits,
        upgrade,
        what,
    } = run;
    let permit = tokio::select! {
        p = tokio::time::timeout(cgi.queue_timeout, cgi.places.clone().acquire_owned()) => p,
        () = head_tx.closed() => return,
    };
    let Ok(Ok(_permit)) = permit else {
        cgi.stats.refused.fetch_add(1, Ordering::Relaxed);
        let _ = head_tx.send(Err(GatewayError::CgiBusy(cgi.max_procs, cgi.queue_timeout)));
        return;
    };
    let mut proc = match start(&cgi, &script, env) {
        Ok(p) => p,
        Err(e) => {
            cgi.stats.failed.fetch_add(1, Ordering::Relaxed);
            let _ = head_tx.send(Err(e));
            return;
        }
    };
    cgi.stats.started.fetch_add(1, Ordering::Relaxed);
    let deadline = cgi.request_timeout.map(|t| Instant::now() + t);
    let outcome = talk(
        &cgi, &mut proc, &mut body, limits, head_tx, deadline, &what, upgrade,
    )
    .await;
    let stopped = match outcome {
        Ok(()) => {
            // The output is complete; a script still running after closing its stdout gets
            // its grace to exit, then is stopped.
            let exited = tokio::time::timeout(cgi.kill_grace, proc.exited()).await;
            if exited.is_err() {
                proc.stop(
                    Reason::Abandoned,
                    "it still ran after its output ended".to_owned(),
                );
            }
            exited.is_err()
        }
        Err(Stop { reason, detail }) => {
            proc.stop(reason, detail);
            true
        }
    };
    let exit = proc.try_exit();
    match exit {
        Some(e) if e.success => {
            cgi.stats.succeeded.fetch_add(1, Ordering::Relaxed);
        }
        Some(e) if e.reason == Reason::Exited || e.reason == Reason::Signaled => {
            cgi.stats.failed.fetch_add(1, Ordering::Relaxed);
        }
        _ if stopped => {
            cgi.stats.stopped.fetch_add(1, Ordering::Relaxed);
        }
        _ => {
            cgi.stats.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
    // Dropping `proc` stops a script still running (its request is over).
}

/// Starts the script.
fn start(
    cgi: &Cgi,
    script: &Path,
    mut env: Vec<(OsString, OsString)>,
) -> Result<OnceProcess, GatewayError> {
    let Some(sup) = &cgi.sup else {
        return Err(GatewayError::CgiStart(
            "no supervisor runs (relight was started without one)".to_owned(),
        ));
    };
    let (uid, gid) = cgi.ids.clone().map_err(GatewayError::CgiStart)?;
    env.extend(cgi.env.iter().cloned());
    let (program, args) = match &cgi.interpreter {
        Some(i) => (i.clone(), vec![script.as_os_str().to_owned()]),
        None => (script.to_path_buf(), Vec::new()),
    };
    let cwd = script
        .parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
    let spec = OnceSpec {
        tag: format!("cgi \"{}\" {}", cgi.name, script.display()),
        spawn: SpawnSpec {
            program,
            args,
            env,
            cwd,
            uid,
            gid,
        },
        descendants: cgi.descendants,
        kill_signal: cgi.kill_signal,
        kill_grace: cgi.kill_grace,
    };
    sup.run_once(&spec).map_err(|e| {
        GatewayError::CgiStart(format!("cannot run {}: {e}", spec.spawn.program.display()))
    })
}

/// A response that is an RFC 3875 local redirect: the path (and query) the request is to be
/// served as, internally.
#[derive(Debug, Clone)]
pub(crate) struct LocalRedirect(pub String);

/// The target of a local redirect, if the head is one as lighttpd's cgi.local-redir takes it:
/// `Location: /path` the only header, no `Status` line, no body bytes yet.
fn local_redirect(resp: &Response<()>, output: &[u8], first: &[u8]) -> Option<String> {
    let location = resp.headers().get(http::header::LOCATION)?.to_str().ok()?;
    let explicit_status = output
        .split(|&b| b == b'\n')
        .take_while(|l| !l.is_empty() && *l != b"\r")
        .any(|l| l.len() >= 7 && l[..7].eq_ignore_ascii_case(b"status:"));
    (resp.status() == StatusCode::FOUND
        && resp.headers().len() == 1
        && location.starts_with('/')
        && !location.starts_with("//")
        && !explicit_status
        && first.is_empty())
    .then(|| location.to_owned())
}

/// Why a run was stopped before its script ended by itself.
struct Stop {
    reason: Reason,
    detail: String,
}

impl Stop {
    fn timeout(what: &str, e: &GatewayError) -> Stop {
        Stop {
            reason: Reason::RequestTimeout,
            detail: format!("request \"{what}\": {e}"),
        }
    }
    fn abandoned(why: &str) -> Stop {
        Stop {
            reason: Reason::Abandoned,
            detail: why.to_owned(),
        }
    }
}

/// What the script's stdout gave.
enum Read {
    Data(Bytes),
    Eof,
}

/// The script's stdout, and whether (and when) the script exited.
struct Output<'a> {
    stdout: pipe::Receiver,
    proc: &'a mut OnceProcess,
    exited: bool,
    read_timeout: Duration,
    deadline: Option<Instant>,
    request_timeout: Duration,
}

impl Output<'_> {
    /// The next bytes: EOF, or (once the script has exited) silence for [`EXIT_IDLE`], end the
    /// output; the read timeout and the request's deadline are errors.
    async fn next(&mut self) -> Result<Read, GatewayError> {
        let mut buf = BytesMut::with_capacity(CHUNK);
        loop {
            let wait = if self.exited {
                EXIT_IDLE
            } else {
                self.read_timeout
            };
            let deadline = self.deadline;
            let over = async move {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = tokio::time::timeout(wait, self.stdout.read_buf(&mut buf)) => {
                    return match r {
                        Ok(Ok(0)) => Ok(Read::Eof),
                        Ok(Ok(_)) => Ok(Read::Data(buf.freeze())),
                        Ok(Err(e)) => Err(GatewayError::Read(e)),
                        Err(_) if self.exited => Ok(Read::Eof),
                        Err(_) => Err(GatewayError::ReadTimeout(self.read_timeout)),
                    };
                }
                _ = self.proc.exited(), if !self.exited => {
                    self.exited = true;
                }
                () = over => return Err(GatewayError::RequestTimeout(self.request_timeout)),
            }
        }
    }
}

/// Feeds stdin and reads stdout until the response is complete. `Err`: the script must be
/// stopped.
#[allow(clippy::too_many_arguments)]
async fn talk(
    cgi: &Cgi,
    proc: &mut OnceProcess,
    body: &mut RequestBody,
    limits: ClientLimits,
    mut head_tx: HeadTx,
    deadline: Option<Instant>,
    what: &str,
    upgrade: Option<(crate::http::client_body::OnUpgrade, http::HeaderValue)>,
) -> Result<(), Stop> {
    let stdin = proc.stdin.take();
    let stdout = proc.stdout.take();
    let (Some(stdout), stdin) = (stdout.and_then(|fd| receiver(fd).ok()), stdin) else {
        let _ = head_tx.send(Err(GatewayError::CgiStart(
            "its stdout could not be read".to_owned(),
        )));
        return Err(Stop::abandoned("its stdout could not be read"));
    };
    // An upgrade request's stdin is kept for the joined connection (its body, if any, is
    // not sent: the script answers 101 or not before it).
    let (stdin, mut kept_stdin) = match upgrade {
        Some(_) => (None, stdin),
        None => (stdin, None),
    };
    let writer = write_body(stdin, body, limits, cgi.write_timeout);
    tokio::pin!(writer);
    let mut writer_done = false;
    let mut out = Output {
        stdout,
        proc,
        exited: false,
        read_timeout: cgi.read_timeout,
        deadline,
        request_timeout: cgi.request_timeout.unwrap_or_default(),
    };

    // Phase 1: the header block.
    let mut buf = BytesMut::new();
    let (resp, first) = loop {
        tokio::select! {
            res = &mut writer, if !writer_done => {
                writer_done = true;
                if let Err(e) = res
                    && is_fatal_write_error(&e)
                {
                    let stop = match &e {
                        GatewayError::WriteTimeout(_) => Stop::timeout(what, &e),
                        _ => Stop::abandoned("its request body failed"),
                    };
                    let _ = head_tx.send(Err(e));
                    return Err(stop);
                }
            }
            r = out.next() => match r {
                Ok(Read::Data(d)) => {
                    buf.extend_from_slice(&d);
                    match read_head(&buf, false, true) {
                        Ok(Some(h)) => break h,
                        Ok(None) => {}
                        Err(e) => {
                            let _ = head_tx.send(Err(e));
                            return Err(Stop::abandoned("its response head was invalid"));
                        }
                    }
                }
                Ok(Read::Eof) => match read_head(&buf, true, true) {
                    Ok(Some(h)) => break h,
                    Ok(None) => {
                        let _ = head_tx.send(Err(GatewayError::NoOutput));
                        return Ok(());
                    }
                    Err(e) => {
                        let _ = head_tx.send(Err(e));
                        return Ok(());
                    }
                },
                Err(e) => {
                    let stop = Stop::timeout(what, &e);
                    let _ = head_tx.send(Err(e));
                    return Err(stop);
                }
            },
            () = head_tx.closed() => {
                tracing::info!("cgi \"{}\": {what}: client went away before the response", cgi.name);
                return Err(Stop::abandoned("its client went away"));
            }
        }
    };
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some((client_up, asked)) = upgrade else {
            let e = GatewayError::Head(super::response_head::CgiError::BadStatus(
                "101 to a request that asked for no upgrade".to_owned(),
            ));
            let _ = head_tx.send(Err(e));
            return Err(Stop::abandoned("it answered 101 to no upgrade"));
        };
        let mut to_client = Response::new(Body::Empty);
        *to_client.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        *to_client.headers_mut() = resp.headers().clone();
        to_client.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("upgrade"),
        );
        to_client.headers_mut().insert(http::header::UPGRADE, asked);
        if head_tx.send(Ok(to_client)).is_err() {
            return Err(Stop::abandoned("its client went away"));
        }
        let Ok(client) = client_up.connection().await else {
            return Err(Stop::abandoned("its client's connection did not upgrade"));
        };
        let Some(stdin) = kept_stdin
            .take()
            .and_then(|fd| pipe::Sender::from_owned_fd(fd).ok())
        else {
            return Err(Stop::abandoned("its stdin could not be written"));
        };
        let Output { stdout, .. } = out;
        let mut client = client;
        use tokio::io::AsyncWriteExt;
        if !first.is_empty() && client.write_all(&first).await.is_err() {
            return Err(Stop::abandoned("its client went away"));
        }
        // The client to stdin (closed when the client closes: the script reads EOF), stdout
        // to the client (closed when the script closes it); when the client leaves, the
        // script has its kill grace to finish writing.
        let (mut from_client, mut to_client) = tokio::io::split(client);
        let (mut stdout, mut stdin) = (stdout, stdin);
        let up = async move {
            let _ = tokio::io::copy(&mut from_client, &mut stdin).await;
        };
        let down = async move {
            let _ = tokio::io::copy(&mut stdout, &mut to_client).await;
            let _ = to_client.shutdown().await;
        };
        tokio::pin!(up, down);
        tokio::select! {
            () = &mut up => {
                let _ = tokio::time::timeout(cgi.kill_grace, down).await;
            }
            () = &mut down => {}
        }
        tracing::debug!("cgi \"{}\": {what}: upgraded connection ended", cgi.name);
        return Ok(());
    }
    // Not upgraded: the script gets EOF on its stdin.
    drop(kept_stdin);
    let mut length = DeclaredLength::of(resp.headers());
    let local = cgi
        .local_redirect
        .then(|| local_redirect(&resp, &buf, &first))
        .flatten();
    let (body_tx, resp_body) = Body::channel();
    let mut resp = resp.map(|()| resp_body);
    if let Some(to) = local {
        resp.extensions_mut().insert(LocalRedirect(to));
    }
    if head_tx.send(Ok(resp)).is_err() {
        return Err(Stop::abandoned("its client went away"));
    }

    // Phase 2: the body, while stdin may still be fed.
    let mut pending = (!first.is_empty()).then_some(first);
    loop {
        let chunk = match pending.take() {
            Some(c) => c,
            None => {
                let next = tokio::select! {
                    res = &mut writer, if !writer_done => {
                        writer_done = true;
                        if let Err(e) = res
                            && is_fatal_write_error(&e)
                        {
                            cut_off(&body_tx, &format!("cgi \"{}\"", cgi.name), what, &e).await;
                            return Err(Stop::abandoned("its request body failed"));
                        }
                        continue;
                    }
                    r = out.next() => r,
                    () = body_tx.closed() => {
                        tracing::info!("cgi \"{}\": {what}: client went away during the response", cgi.name);
                        return Err(Stop::abandoned("its client went away"));
                    }
                };
                match next {
                    Ok(Read::Data(d)) => d,
                    Ok(Read::Eof) => break,
                    Err(e) => {
                        cut_off(&body_tx, &format!("cgi \"{}\"", cgi.name), what, &e).await;
                        return Err(Stop::timeout(what, &e));
                    }
                }
            }
        };
        let chunk = length.take(chunk);
        if !chunk.is_empty() && body_tx.send(Ok(chunk)).await.is_err() {
            tracing::info!(
                "cgi \"{}\": {what}: client went away during the response",
                cgi.name
            );
            return Err(Stop::abandoned("its client went away"));
        }
        if length.complete() {
            break;
        }
    }
    if let Some(e) = length.short() {
        cut_off(&body_tx, &format!("cgi \"{}\"", cgi.name), what, &e).await;
    }
    Ok(())
}

/// Failures on the stdin side that end the run; a script that stops reading its stdin (or
/// never reads it) is not one: its answer is still read.
fn is_fatal_write_error(e: &GatewayError) -> bool {
    !matches!(e, GatewayError::Read(_))
}

fn receiver(fd: OwnedFd) -> std::io::Result<pipe::Receiver> {
    pipe::Receiver::from_owned_fd(fd)
}

/// Writes the request body to the script's stdin, then closes it.
async fn write_body(
    stdin: Option<OwnedFd>,
    body: &mut RequestBody,
    limits: ClientLimits,
    write_timeout: Duration,
) -> Result<(), GatewayError> {
    let Some(fd) = stdin else { return Ok(()) };
    let mut w = pipe::Sender::from_owned_fd(fd).map_err(GatewayError::Read)?;
    super::write_body(&mut w, body, limits, write_timeout).await
    // Dropping `w` closes stdin: the script reads EOF.
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::response_head::{CgiError, MAX_HEAD};

    /// Status, headers and the start of the body.
    type Head = (u16, Vec<(String, String)>, Vec<u8>);

    fn head(buf: &[u8], eof: bool) -> Option<Head> {
        read_head(buf, eof, true).unwrap().map(|(r, body)| {
            (
                r.status().as_u16(),
                r.headers()
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
                    .collect(),
                body.to_vec(),
            )
        })
    }

    #[test]
    fn heads_as_lighttpd_reads_cgi_output() {
        assert_eq!(
            head(b"Content-Type: text/plain\r\n\r\nhi", false),
            Some((
                200,
                vec![("content-type".into(), "text/plain".into())],
                b"hi".to_vec()
            ))
        );
        assert_eq!(head(b"Status: 404 Nope\n\nx", false).unwrap().0, 404);
        assert_eq!(head(b"Location: /x\n\n", false).unwrap().0, 302);
        // Not complete yet.
        assert_eq!(head(b"Content-Type: text/plain\n", false), None);
        // No header at all: the whole output is the body of a 200.
        assert_eq!(
            head(b"hello world\nmore", false),
            Some((200, vec![], b"hello world\nmore".to_vec()))
        );
        // NPH: the status line gives the status.
        let (status, headers, body) =
            head(b"HTTP/1.1 201 Created\r\nX-A: b\r\n\r\nok", false).unwrap();
        assert_eq!((status, body), (201, b"ok".to_vec()));
        assert_eq!(headers, vec![("x-a".into(), "b".into())]);
        // Output that ends within its header block, and a block over the limit.
        assert!(matches!(
            read_head(b"Content-Type: text/plain\n", true, true),
            Err(GatewayError::CgiNoHead)
        ));
        let big = format!("X-Big: {}\n", "a".repeat(MAX_HEAD + 1));
        assert!(matches!(
            read_head(big.as_bytes(), false, true),
            Err(GatewayError::Head(CgiError::TooLarge))
        ));
        // An SCGI or uwsgi app gets no such leeway: 502.
        assert!(matches!(
            read_head(b"hello world\nmore", false, false),
            Err(GatewayError::Head(CgiError::BadLine(_)))
        ));
        assert!(matches!(
            read_head(b"Status: 1000\n\n", false, true),
            Err(GatewayError::Head(CgiError::BadStatus(_)))
        ));
    }
}
