"""One end of the node link, tested against the other over an in-memory pipe: requests and their
answers and failures, events, stream frames, timeouts, closing, and the limit on requests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

from corral.errors import (
    Conflict,
    CorralError,
    InvalidInput,
    NotFound,
    ProviderError,
    RetryableProviderError,
)
from corral.ids import new_id
from corral.protocol.frames import (
    MAX_STREAM_CHUNK_BYTES,
    PROTOCOL_VERSION,
    Event,
    Frame,
    Hello,
    ProtocolError,
    Request,
    Response,
    StreamClose,
    StreamWindow,
    Welcome,
    parse_frame,
)
from corral.protocol.messages import (
    Body,
    Empty,
    NodeHeartbeat,
    WorkspaceList,
    WorkspaceProgress,
    WorkspaceRef,
    WorkspaceStatus,
)
from corral.protocol.peer import (
    MAX_CONCURRENT_REQUESTS,
    Handler,
    Peer,
    PeerClosed,
    RemoteCallError,
)
from corral.states import WorkspaceState
from tests.support.pipe import Pipe
from tests.support.waits import eventually

TIMEOUT_SECONDS = 10.0
T = TypeVar("T")


async def within(awaitable: Awaitable[T]) -> T:
    return await asyncio.wait_for(awaitable, TIMEOUT_SECONDS)


async def cancel(task: asyncio.Task[Any]) -> None:
    """Cancel a task the test started and wait for it; what it raised was checked already."""
    if task.done():
        if not task.cancelled():
            task.exception()
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await within(task)


# -- the in-memory link ----------------------------------------------------------------------


class Recorder:
    """A transport that keeps what a peer sends, for feeding it hand-made frames."""

    def __init__(self) -> None:
        self.sent: asyncio.Queue[str | bytes] = asyncio.Queue()

    async def send_text(self, text: str) -> None:
        await self.sent.put(text)

    async def send_bytes(self, data: bytes) -> None:
        await self.sent.put(data)

    async def next_frame(self) -> Frame:
        text = await within(self.sent.get())
        assert isinstance(text, str)
        return parse_frame(text)


@dataclass
class Streams:
    """A `StreamHandler` that records what reaches it."""

    data: list[tuple[int, bytes]] = field(default_factory=list)
    windows: list[tuple[int, int]] = field(default_factory=list)
    closes: list[tuple[int, str]] = field(default_factory=list)

    async def on_data(self, stream: int, data: bytes) -> None:
        self.data.append((stream, data))

    async def on_window(self, stream: int, granted: int) -> None:
        self.windows.append((stream, granted))

    async def on_close(self, stream: int, reason: str) -> None:
        self.closes.append((stream, reason))

    def received(self, stream: int) -> bytes:
        return b"".join(chunk for s, chunk in self.data if s == stream)


@dataclass
class Events:
    received: list[tuple[str, Body]] = field(default_factory=list)

    async def __call__(self, name: str, params: Body) -> None:
        self.received.append((name, params))


@dataclass
class Link:
    """Two peers: `control` (as the control plane) and `node`, each with its own recorders."""

    control: Peer
    node: Peer
    pumps: list[asyncio.Task[None]]
    control_events: Events
    node_events: Events
    control_streams: Streams
    node_streams: Streams


MakeLink = Callable[..., Awaitable[Link]]


@pytest.fixture
async def make_link() -> AsyncIterator[MakeLink]:
    links: list[Link] = []

    async def make(
        node_handlers: dict[str, Handler] | None = None,
        control_handlers: dict[str, Handler] | None = None,
    ) -> Link:
        to_node, to_control = Pipe(), Pipe()
        control_events, node_events = Events(), Events()
        control_streams, node_streams = Streams(), Streams()
        control = Peer(
            to_node,
            handlers=control_handlers,
            on_event=control_events,
            streams=control_streams,
            name="control",
        )
        node = Peer(
            to_control,
            handlers=node_handlers,
            on_event=node_events,
            streams=node_streams,
            name="node",
        )
        to_node.receiver, to_control.receiver = node, control
        pumps = [
            asyncio.create_task(to_node.pump(), name="to-node"),
            asyncio.create_task(to_control.pump(), name="to-control"),
        ]
        link = Link(
            control, node, pumps, control_events, node_events, control_streams, node_streams
        )
        links.append(link)
        return link

    yield make
    died: list[BaseException] = []
    for link in links:
        await within(link.control.close("test over"))
        await within(link.node.close("test over"))
        for pump in link.pumps:
            if pump.done() and not pump.cancelled():
                error = pump.exception()
                if error is not None:
                    died.append(error)
            await cancel(pump)
    assert not died, f"a pump died: {died!r}"


def workspace_id() -> str:
    return new_id("wsp")


async def start_workspace(params: WorkspaceRef) -> WorkspaceStatus:
    return WorkspaceStatus(id=params.id, state=WorkspaceState.RUNNING)


class Blocked:
    """A handler that waits until released, counting the calls in progress."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.entered = 0
        self.cancelled = 0

    async def __call__(self, params: WorkspaceRef) -> WorkspaceStatus:
        self.entered += 1
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return WorkspaceStatus(id=params.id, state=WorkspaceState.STOPPED)


# -- requests and responses ------------------------------------------------------------------


async def test_request_returns_the_handlers_result(make_link: MakeLink) -> None:
    seen: list[Body] = []

    async def start(params: WorkspaceRef) -> WorkspaceStatus:
        seen.append(params)
        return WorkspaceStatus(id=params.id, state=WorkspaceState.RUNNING, reason="started")

    link = await make_link(node_handlers={"workspace.start": start})
    wid = workspace_id()
    result = await within(link.control.request("workspace.start", WorkspaceRef(id=wid)))
    assert result == WorkspaceStatus(id=wid, state=WorkspaceState.RUNNING, reason="started")
    assert seen == [WorkspaceRef(id=wid)]


async def test_either_side_may_serve_requests(make_link: MakeLink) -> None:
    async def listing(params: Empty) -> WorkspaceList:
        return WorkspaceList(workspaces=[])

    link = await make_link(control_handlers={"workspace.list": listing})
    assert await within(link.node.request("workspace.list", Empty())) == WorkspaceList(
        workspaces=[]
    )


async def test_answers_find_their_requests_in_any_order(make_link: MakeLink) -> None:
    slow = Blocked()

    async def fast(params: WorkspaceRef) -> WorkspaceStatus:
        return WorkspaceStatus(id=params.id, state=WorkspaceState.RUNNING)

    link = await make_link(node_handlers={"workspace.stop": slow, "workspace.start": fast})
    first, second = workspace_id(), workspace_id()
    stopping = asyncio.create_task(link.control.request("workspace.stop", WorkspaceRef(id=first)))
    try:
        await eventually(lambda: slow.entered == 1, "the slow handler")
        started = await within(link.control.request("workspace.start", WorkspaceRef(id=second)))
        assert started == WorkspaceStatus(id=second, state=WorkspaceState.RUNNING)
        assert not stopping.done()
        slow.release.set()
        stopped = await within(stopping)
        assert stopped == WorkspaceStatus(id=first, state=WorkspaceState.STOPPED)
    finally:
        await cancel(stopping)


async def test_request_checks_its_params_type(make_link: MakeLink) -> None:
    link = await make_link(node_handlers={"workspace.start": start_workspace})
    with pytest.raises(TypeError, match="WorkspaceRef"):
        await within(link.control.request("workspace.start", Empty()))


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (NotFound("no workspace named 'demo'"), "not_found"),
        (
            Conflict("workspace demo is stopped", reason="workspace_not_running"),
            "workspace_not_running",
        ),
    ],
)
async def test_handlers_corral_error_arrives_with_its_reason(
    make_link: MakeLink, error: Exception, reason: str
) -> None:
    async def fail(params: WorkspaceRef) -> WorkspaceStatus:
        raise error

    link = await make_link(node_handlers={"workspace.start": fail})
    with pytest.raises(CorralError) as caught:
        await within(link.control.request("workspace.start", WorkspaceRef(id=workspace_id())))
    assert caught.value.reason == reason
    assert caught.value.message == str(error)
    # The node's error keeps its meaning here: a NotFound there is a NotFound (404) here.
    if isinstance(error, NotFound | InvalidInput | Conflict):
        assert isinstance(caught.value, type(error))


async def test_handlers_own_failure_is_logged_and_answered_generically(
    make_link: MakeLink, caplog: pytest.LogCaptureFixture
) -> None:
    async def crash(params: WorkspaceRef) -> WorkspaceStatus:
        raise RuntimeError("secret-internal-detail")

    link = await make_link(node_handlers={"workspace.start": crash})
    with (
        caplog.at_level(logging.ERROR, logger="corral.protocol"),
        pytest.raises(RemoteCallError) as caught,
    ):
        await within(link.control.request("workspace.start", WorkspaceRef(id=workspace_id())))
    assert caught.value.reason == "internal_error"
    # The node failed, not this side: an outside system's failure (502 from the API), not 500.
    assert isinstance(caught.value, ProviderError)
    assert "secret-internal-detail" not in caught.value.message
    assert "workspace.start" in caught.value.message
    assert any(r.exc_info and "workspace.start" in r.getMessage() for r in caplog.records)


async def test_method_without_handler_is_unknown(make_link: MakeLink) -> None:
    link = await make_link(node_handlers={"workspace.start": start_workspace})
    with pytest.raises(RemoteCallError) as caught:
        await within(link.control.request("workspace.stop", WorkspaceRef(id=workspace_id())))
    assert caught.value.reason == "unknown_method"
    assert "workspace.stop" in caught.value.message


async def test_method_outside_the_protocol_is_unknown_even_with_a_handler() -> None:
    recorder = Recorder()
    peer = Peer(recorder, handlers={"shell.run": start_workspace}, name="node")
    try:
        await peer.handle_text(Request(id=5, method="shell.run").model_dump_json())
        answer = await recorder.next_frame()
        assert isinstance(answer, Response) and answer.id == 5 and answer.result is None
        assert answer.error is not None and answer.error.code == "unknown_method"
    finally:
        await within(peer.close("test over"))


async def test_invalid_params_are_answered_naming_the_fields() -> None:
    recorder = Recorder()
    peer = Peer(recorder, handlers={"workspace.start": start_workspace}, name="node")
    try:
        params = {"id": "not-a-workspace-id", "force": True}
        await peer.handle_text(
            Request(id=9, method="workspace.start", params=params).model_dump_json()
        )
        answer = await recorder.next_frame()
        assert isinstance(answer, Response) and answer.id == 9 and answer.result is None
        assert answer.error is not None and answer.error.code == "invalid_params"
        assert "id" in answer.error.message and "force" in answer.error.message
        assert "not-a-workspace-id" not in answer.error.message
    finally:
        await within(peer.close("test over"))


async def test_a_request_is_read_the_same_whatever_its_layout() -> None:
    """Requests as `Peer.request` writes them are validated straight from their JSON; any other
    layout of the same frame is served the same, and a frame that only starts like one is
    still refused as malformed."""
    served: list[WorkspaceRef] = []

    async def start(params: WorkspaceRef) -> Body:
        served.append(params)
        return WorkspaceStatus(id=params.id, state=WorkspaceState.RUNNING)

    workspace_id = new_id("wsp")
    recorder = Recorder()
    peer = Peer(recorder, handlers={"workspace.start": start}, name="node")
    params = f'{{"id":"{workspace_id}"}}'
    try:
        for request_id, frame in enumerate(
            (
                f'{{"type":"request","id":0,"method":"workspace.start","params":{params}}}',
                f'{{"id": 1, "type": "request", "params": {params}, "method": "workspace.start"}}',
            )
        ):
            await peer.handle_text(frame)
            answer = await recorder.next_frame()
            assert isinstance(answer, Response) and answer.id == request_id, answer
            assert answer.result == {"id": workspace_id, "state": "running", "reason": None}
        assert served == [WorkspaceRef(id=workspace_id)] * 2
        with pytest.raises(ProtocolError, match="malformed frame"):
            await peer.handle_text(
                f'{{"type":"request","id":2,"method":"workspace.start","params":{params},"x":1}}'
            )
    finally:
        await within(peer.close("test over"))


async def test_malformed_result_is_a_protocol_error(make_link: MakeLink) -> None:
    async def wrong(params: WorkspaceRef) -> Body:
        return Empty()  # workspace.start must answer a WorkspaceStatus

    link = await make_link(node_handlers={"workspace.start": wrong})
    with pytest.raises(ProtocolError, match=r"workspace\.start"):
        await within(link.control.request("workspace.start", WorkspaceRef(id=workspace_id())))


async def test_answer_to_no_request_is_ignored(make_link: MakeLink) -> None:
    link = await make_link()
    await within(link.control.handle_text(Response(id=999, result={}).model_dump_json()))


# -- timeouts and closing --------------------------------------------------------------------


async def test_request_to_a_closed_peer_fails(make_link: MakeLink) -> None:
    link = await make_link(node_handlers={"workspace.start": start_workspace})
    await within(link.control.close("the link was lost"))
    assert link.control.closed
    with pytest.raises(PeerClosed, match="the link was lost") as caught:
        await within(link.control.request("workspace.start", WorkspaceRef(id=workspace_id())))
    assert caught.value.reason == "node_disconnected"
    with pytest.raises(PeerClosed):
        await within(link.control.notify("heartbeat", heartbeat()))
    with pytest.raises(PeerClosed):
        await within(link.control.send_stream(1, b"late"))
    with pytest.raises(PeerClosed):
        await within(link.control.grant(1, 10))
    await within(link.control.close_stream(1, "late"))  # closing a stream never fails
    await within(link.control.close("again"))  # idempotent


async def test_pending_requests_fail_when_the_peer_closes(make_link: MakeLink) -> None:
    blocked = Blocked()
    link = await make_link(node_handlers={"workspace.stop": blocked})
    calls = [
        asyncio.create_task(link.control.request("workspace.stop", WorkspaceRef(id=workspace_id())))
        for _ in range(3)
    ]
    try:
        await eventually(lambda: blocked.entered == 3, "three requests at the node")
        await within(link.control.close("the node went away"))
        for call in calls:
            with pytest.raises(PeerClosed, match="the node went away"):
                await within(call)
    finally:
        for call in calls:
            await cancel(call)


async def test_closing_stops_the_requests_being_served(make_link: MakeLink) -> None:
    blocked = Blocked()
    link = await make_link(node_handlers={"workspace.stop": blocked})
    call = asyncio.create_task(
        link.control.request("workspace.stop", WorkspaceRef(id=workspace_id()))
    )
    try:
        await eventually(lambda: blocked.entered == 1, "the request at the node")
        await within(link.node.close("node shutting down"))
        assert blocked.cancelled == 1
        await within(link.control.close("node shutting down"))
        with pytest.raises(PeerClosed):
            await within(call)
    finally:
        await cancel(call)


async def test_closed_peer_serves_no_more_requests() -> None:
    """`close` promises to stop serving: a frame read after it must not run a handler."""
    called: list[Body] = []

    async def delete(params: WorkspaceRef) -> WorkspaceStatus:
        called.append(params)
        return WorkspaceStatus(id=params.id, state=WorkspaceState.DELETED)

    recorder = Recorder()
    peer = Peer(recorder, handlers={"workspace.delete": delete}, name="node")
    await within(peer.close("the link closed"))
    request = Request(id=1, method="workspace.delete", params={"id": workspace_id()})
    with contextlib.suppress(PeerClosed, ProtocolError):
        await within(peer.handle_text(request.model_dump_json()))
    # Nothing to wait for: a handler that was wrongly started would run within these turns of
    # the loop, and the point is that none does.
    for _ in range(10):
        await asyncio.sleep(0)
    assert called == []
    assert recorder.sent.empty()


async def test_unanswered_request_times_out(make_link: MakeLink) -> None:
    blocked = Blocked()
    link = await make_link(node_handlers={"workspace.stop": blocked})
    with pytest.raises(PeerClosed) as caught:
        await within(
            link.control.request(
                "workspace.stop", WorkspaceRef(id=workspace_id()), timeout_seconds=0.05
            )
        )
    assert caught.value.reason == "node_timeout"
    assert "workspace.stop" in caught.value.message
    # The answer that comes too late is dropped, and the link still works.
    blocked.release.set()
    again = await within(link.control.request("workspace.stop", WorkspaceRef(id=workspace_id())))
    assert isinstance(again, WorkspaceStatus) and again.state == WorkspaceState.STOPPED
    assert blocked.entered == 2


# -- events ----------------------------------------------------------------------------------


def heartbeat() -> NodeHeartbeat:
    return NodeHeartbeat(
        cpus=4,
        memory_total_bytes=8 << 30,
        memory_used_bytes=1 << 30,
        disk_total_bytes=100 << 30,
        disk_used_bytes=10 << 30,
        load1=0.5,
        workspaces=2,
        terminals=3,
        node_version="0.1.0",
    )


async def test_events_arrive_validated_and_in_order(make_link: MakeLink) -> None:
    link = await make_link()
    wid = workspace_id()
    sent: list[tuple[str, Body]] = [
        ("heartbeat", heartbeat()),
        ("workspace.progress", WorkspaceProgress(id=wid, line="Cloning into 'repo'...")),
        ("workspace.state", WorkspaceStatus(id=wid, state=WorkspaceState.RUNNING)),
    ]
    for name, params in sent:
        await within(link.node.notify(name, params))
    await eventually(lambda: len(link.control_events.received) == 3, "three events")
    assert link.control_events.received == sent
    assert [type(p) for _, p in link.control_events.received] == [type(p) for _, p in sent]


async def test_notify_checks_its_params_type(make_link: MakeLink) -> None:
    link = await make_link()
    with pytest.raises(TypeError, match="NodeHeartbeat"):
        await within(link.node.notify("heartbeat", Empty()))


async def test_unknown_event_is_a_protocol_error() -> None:
    events = Events()
    peer = Peer(Recorder(), on_event=events)
    try:
        with pytest.raises(ProtocolError, match="unknown event"):
            await peer.handle_text(Event(name="shell.output").model_dump_json())
        assert events.received == []
    finally:
        await within(peer.close("test over"))


async def test_malformed_event_is_a_protocol_error_without_its_values() -> None:
    events = Events()
    peer = Peer(Recorder(), on_event=events)
    try:
        params = {"id": "wsp-secret-value", "line": "x"}
        with pytest.raises(ProtocolError, match=r"workspace\.progress") as caught:
            await peer.handle_text(
                Event(name="workspace.progress", params=params).model_dump_json()
            )
        assert "wsp-secret-value" not in str(caught.value)
        assert events.received == []
    finally:
        await within(peer.close("test over"))


@pytest.mark.parametrize(
    "frame",
    [
        Hello(protocol_version=PROTOCOL_VERSION, node_version="0.1.0"),
        Welcome(protocol_version=PROTOCOL_VERSION, node_id="nod_1", heartbeat_interval_seconds=1),
    ],
    ids=["hello", "welcome"],
)
async def test_handshake_frame_after_the_handshake_is_a_protocol_error(frame: Frame) -> None:
    peer = Peer(Recorder())
    try:
        with pytest.raises(ProtocolError, match=frame.type):
            await peer.handle_text(frame.model_dump_json())
    finally:
        await within(peer.close("test over"))


# -- streams ---------------------------------------------------------------------------------


async def test_stream_bytes_arrive_in_chunks_in_order(make_link: MakeLink) -> None:
    link = await make_link()
    big = bytes(i % 253 for i in range(2 * MAX_STREAM_CHUNK_BYTES + MAX_STREAM_CHUNK_BYTES // 2))
    await within(link.control.send_stream(7, big))
    await within(link.control.send_stream(8, b"other stream"))
    await within(link.control.send_stream(7, b"tail"))
    await eventually(
        lambda: link.node_streams.received(8) == b"other stream", "the other stream's bytes"
    )
    assert link.node_streams.received(7) == big + b"tail"
    sizes = [len(chunk) for stream, chunk in link.node_streams.data if stream == 7]
    assert sizes == [MAX_STREAM_CHUNK_BYTES, MAX_STREAM_CHUNK_BYTES, MAX_STREAM_CHUNK_BYTES // 2, 4]


async def test_stream_bytes_flow_both_ways(make_link: MakeLink) -> None:
    link = await make_link()
    await within(link.node.send_stream(3, b"$ "))
    await within(link.control.send_stream(3, b"ls\r"))
    await eventually(lambda: link.control_streams.received(3) == b"$ ", "output at the control")
    await eventually(lambda: link.node_streams.received(3) == b"ls\r", "input at the node")


async def test_window_and_close_reach_the_stream_handler(make_link: MakeLink) -> None:
    link = await make_link()
    await within(link.control.grant(4, 65536))
    await within(link.control.close_stream(4, "viewer left"))
    await within(link.control.close_stream(5, "x" * 600))
    await eventually(lambda: len(link.node_streams.closes) == 2, "two closes")
    assert link.node_streams.windows == [(4, 65536)]
    assert link.node_streams.closes == [(4, "viewer left"), (5, "x" * 500)]


async def test_stream_frames_without_a_stream_handler_are_dropped() -> None:
    peer = Peer(Recorder())
    try:
        await peer.handle_bytes(b"\x00\x00\x00\x01data")
        await peer.handle_text(StreamWindow(stream=1, bytes=10).model_dump_json())
        await peer.handle_text(StreamClose(stream=1).model_dump_json())
    finally:
        await within(peer.close("test over"))


async def test_binary_frame_for_stream_zero_is_a_protocol_error() -> None:
    streams = Streams()
    peer = Peer(Recorder(), streams=streams)
    try:
        with pytest.raises(ProtocolError):
            await peer.handle_bytes(b"\x00\x00\x00\x00data")
        assert streams.data == []
    finally:
        await within(peer.close("test over"))


# -- limits ----------------------------------------------------------------------------------


async def test_requests_over_the_limit_are_answered_busy(make_link: MakeLink) -> None:
    blocked = Blocked()
    link = await make_link(node_handlers={"workspace.stop": blocked})
    ids = [workspace_id() for _ in range(MAX_CONCURRENT_REQUESTS)]
    calls = [
        asyncio.create_task(link.control.request("workspace.stop", WorkspaceRef(id=wid)))
        for wid in ids
    ]
    try:
        await eventually(
            lambda: blocked.entered == MAX_CONCURRENT_REQUESTS, "every request at the node"
        )
        with pytest.raises(RetryableProviderError) as caught:
            await within(link.control.request("workspace.stop", WorkspaceRef(id=workspace_id())))
        assert caught.value.reason == "busy"
        blocked.release.set()
        results = await within(asyncio.gather(*calls))
        assert [r.id for r in results if isinstance(r, WorkspaceStatus)] == ids
        # Once they are answered, there is room again.
        again = await within(link.control.request("workspace.stop", WorkspaceRef(id=ids[0])))
        assert again == WorkspaceStatus(id=ids[0], state=WorkspaceState.STOPPED)
    finally:
        for call in calls:
            await cancel(call)
