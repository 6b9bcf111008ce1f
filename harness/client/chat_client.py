"""The streaming chat client: sends one turn, times it as bytes arrive, returns a `TurnResult`.

It works inside a Locust `FastHttpUser` (pass `self.client`) and on its own
(`ChatClient.standalone(url)`). Either way each turn fires exactly one Locust request sample,
named by the caller, with E2E as its response time and completion tokens as its length, and a
failure message that starts with the error kind. Nothing a server does can make a turn vanish:
every path below ends in `TurnMeter.result`.

This module does I/O and takes timestamps; what they mean is decided in `harness.client.measurement`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from gevent import GreenletExit
from geventhttpclient.response import HTTPParseError
from locust.contrib.fasthttp import FastHttpSession
from locust.event import EventHook

from harness.client.body_reader import BodyEnded, BodyReader
from harness.client.dialect import BadChunk, error_body_message, read_chunk
from harness.client.measurement import TurnMeter
from harness.client.pool_patch import keep_t0_next_to_the_write, remember_addresses, time_connects, watch_connects
from harness.client.request import ChatRequest
from harness.client.server import auth_headers
from harness.client.silence_watch import SilenceWatch
from harness.client.sse import DONE, SSEDecoder
from harness.client.turn_result import ErrorKind, TurnResult

keep_t0_next_to_the_write()
time_connects()
remember_addresses()

CHAT_PATH = "/v1/chat/completions"
DRAIN_AFTER_DONE_S = 1.0  # how long to wait for the body's end after [DONE] to keep the connection
ERROR_BODY_LIMIT = 64 * 1024  # the message of an error body is looked for in this many bytes
STOPPED_MESSAGE = "turnbench stopped the user before the turn ended (stop timeout, or a second Ctrl-C)"


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long a turn may wait, in seconds.

    `first_token` covers everything from t0 to the first token (connect, queueing, prefill): a
    saturated engine can queue for minutes, so it is generous. `stall` bounds silence once tokens
    flow; neither engine sends keep-alives, so a long silence means a stuck stream.
    """

    connect: float = 10.0
    first_token: float = 300.0
    stall: float = 60.0


class ChatClient:
    """Sends chat turns over one `FastHttpSession` (a Locust user's, or its own)."""

    def __init__(
        self,
        session: FastHttpSession,
        *,
        api_key_env: str | None = None,
        timeouts: Timeouts = Timeouts(),
        path: str = CHAT_PATH,
    ) -> None:
        self._session = session
        self._path = path
        self.timeouts = timeouts
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
            # FastHttpSession asks for gzip by default; a compressed stream could not be read
            # event by event.
            "Accept-Encoding": "identity",
            **auth_headers(api_key_env),
        }
        client_args = getattr(getattr(session.client, "clientpool", None), "client_args", {})
        self._connect_timeout: float = client_args.get("connection_timeout", timeouts.connect)

    @classmethod
    def standalone(
        cls,
        base_url: str,
        *,
        api_key_env: str | None = None,
        timeouts: Timeouts = Timeouts(),
        request_event: EventHook | None = None,
        concurrency: int = 1,
    ) -> ChatClient:
        """A client outside Locust. Samples go to `request_event` (a fresh hook by default)."""
        session = FastHttpSession(
            base_url.rstrip("/"),
            request_event=request_event or EventHook(),
            user=None,
            connection_timeout=timeouts.connect,
            # Headers may come only after queueing: the first-token budget covers them.
            network_timeout=timeouts.first_token,
            max_retries=0,
            concurrency=concurrency,
        )
        return cls(session, api_key_env=api_key_env, timeouts=timeouts)

    def send(self, request: ChatRequest, *, name: str = "chat", context: dict[str, Any] | None = None) -> TurnResult:
        """Send one turn and wait for its end. Never raises for anything the server does.

        Killing the greenlet mid-turn (Locust's stop timeout, a second Ctrl-C) still records the
        turn, as failed with `stopped`, before the kill goes on: the request reached the server,
        so the record must show it.
        """
        payload = json.dumps(request.body())
        connect = watch_connects()
        started_at = time.time()
        t0 = time.monotonic()
        meter = TurnMeter(t0, started_at, connect)
        try:
            response = self._session.request(
                "POST",
                self._path,
                name=name,
                data=payload,
                headers=self._headers,
                stream=True,
                catch_response=True,
                context=dict(context or {}),
            )
        except GreenletExit:
            self._report_unanswered(meter, ErrorKind.STOPPED, STOPPED_MESSAGE, name, context)
            raise
        except Exception as exc:  # e.g. an unparseable URL: still one failed turn, one sample
            message = f"could not send the request: {exc}"
            return self._report_unanswered(meter, ErrorKind.CONNECT, message, name, context)

        with response:
            try:
                result = self._receive(response, meter)
            except GreenletExit:
                if not meter.complete:  # a kill while draining after [DONE] spoils nothing
                    meter.failed(time.monotonic(), ErrorKind.STOPPED, STOPPED_MESSAGE)
                self._report(response, meter.result(response.status_code or None, time.monotonic()))
                raise
            self._report(response, result)
        return result

    @staticmethod
    def _report(response: Any, result: TurnResult) -> None:
        meta = response.request_meta
        meta["response_time"] = result.e2e_ms
        meta["response_length"] = result.completion_tokens or 0
        meta["context"]["turn_result"] = result
        if result.ok:
            response.success()
        else:
            response.failure(f"{result.error_kind}: {result.error}")

    def _report_unanswered(
        self, meter: TurnMeter, kind: ErrorKind, message: str, name: str, context: dict[str, Any] | None
    ) -> TurnResult:
        """One sample for a turn that never got a response object to report through."""
        meter.failed(time.monotonic(), kind, message)
        result = meter.result(None, time.monotonic())
        self._session.request_event.fire(
            request_type="POST",
            name=name,
            response_time=result.e2e_ms,
            response_length=0,
            exception=f"{result.error_kind}: {result.error}",
            context={**(context or {}), "turn_result": result},
            start_time=meter.started_at,
            url=self._path,
        )
        return result

    def _receive(self, response: Any, meter: TurnMeter) -> TurnResult:
        status: int | None = response.status_code or None
        if status is None:  # no response at all: FastHttpSession hands back an ErrorResponse
            self._classify_no_response(meter, response.error)
            return meter.result(None, time.monotonic())
        if status != 200:
            message = self._error_body(response)
            meter.failed(time.monotonic(), _http_error_kind(status), f"HTTP {status}: {message}")
            return meter.result(status, time.monotonic())

        reader = BodyReader(response._response)
        try:
            self._stream(reader, meter)
        except TimeoutError:
            now = time.monotonic()
            if meter.saw_token:
                meter.failed(now, ErrorKind.TIMEOUT_MID_STREAM, f"no data for {self.timeouts.stall:g} s")
            else:
                meter.failed(now, ErrorKind.TIMEOUT_FIRST_TOKEN, f"no token within {self.timeouts.first_token:g} s")
        except BadChunk as exc:
            meter.failed(time.monotonic(), ErrorKind.BAD_JSON, str(exc))
        except (BodyEnded, HTTPParseError, OSError):
            meter.stream_ended(time.monotonic())  # measurement decides: truncated unless finished
        except Exception as exc:
            meter.failed(time.monotonic(), ErrorKind.CLIENT, f"turnbench client error: {exc!r}")
        finally:
            reader.close(drain_s=DRAIN_AFTER_DONE_S if meter.complete else 0.0)
        return meter.result(status, time.monotonic())

    def _stream(self, reader: BodyReader, meter: TurnMeter) -> None:
        decoder = SSEDecoder()
        watch = SilenceWatch(meter.t0 + self.timeouts.first_token, self.timeouts.stall)
        reader.set_timeout(None)  # the watch keeps both limits, without a timer per read
        try:
            while not meter.finished:
                data = reader.read()
                t = watch.last_data = time.monotonic()
                if not data:
                    meter.stream_ended(t)
                    return
                had_token = meter.saw_token
                for payload in decoder.feed(data):
                    if payload == DONE:
                        meter.done(t)
                        return
                    meter.chunk(t, read_chunk(payload))
                    if meter.finished:
                        return
                if meter.saw_token and not had_token:
                    watch.tokens_started()
        finally:
            watch.close()

    def _classify_no_response(self, meter: TurnMeter, error: BaseException | None) -> None:
        now = time.monotonic()
        if isinstance(error, TimeoutError) and now - meter.t0 > self._connect_timeout * 1.05 + 0.05:
            # Connected, but no headers: both engines send headers with the first token or earlier.
            meter.failed(now, ErrorKind.TIMEOUT_FIRST_TOKEN, f"no response within {now - meter.t0:.1f} s")
        else:
            meter.failed(now, ErrorKind.CONNECT, _describe_connect_error(error))

    @staticmethod
    def _error_body(response: Any) -> str:
        try:
            # geventhttpclient reads the whole error body while building its error report.
            body = response.content or b""
        except Exception as exc:  # the message is a courtesy; the status already says it failed
            return f"(body unreadable: {type(exc).__name__})"
        return error_body_message(body[:ERROR_BODY_LIMIT])


def _http_error_kind(status: int) -> ErrorKind:
    if status == 429:
        return ErrorKind.HTTP_429
    if status >= 500:
        return ErrorKind.HTTP_5XX
    return ErrorKind.HTTP_4XX


def _describe_connect_error(error: BaseException | None) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused (is the server running, and on this port?)"
    if error is None:
        return "no response"
    # geventhttpclient appends a dump of the request (headers included, so the API key) to some
    # errors after "REQUEST:": never let it into a message.
    text = str(error).split("REQUEST:", 1)[0].strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
