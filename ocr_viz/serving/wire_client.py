"""A student without a browser: speaks Streamlit's own websocket protocol to the real server.

The browser load test runs N Chromium tabs on the server's own 2 cores, so it measures Chromium
as much as the server. In a classroom every student's browser runs on their own machine; what
they share is the server. This client opens a session the way the browser does (a BackMsg
`rerun_script` with the page and the query string), reads every ForwardMsg, and clicks a map by
sending the plotly chart's selection as its widget state, with the fragment id the server gave
the chart, exactly as the frontend does. Times are from the request to the server's
script-finished message for that run: server work plus transfer, no drawing.
"""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState


@dataclass
class Chart:
    widget_id: str   # the plotly chart's widget id (it ends with the chart's key)
    fragment_id: str  # the fragment that drew it ("" outside fragments)


@dataclass
class Session:
    """One websocket session with the app: what it has received, and its clickable charts by key."""
    socket: object
    page_script_hash: str = ""
    bytes_received: int = 0
    finished_runs: int = 0
    running: bool = False
    exceptions: list[str] = field(default_factory=list)
    charts: dict[str, Chart] = field(default_factory=dict)  # by key; the latest one drawn (its id follows its figure)
    texts: list[str] = field(default_factory=list)  # markdown, image captions, plotly specs since the last request
    session_id: str = ""
    radios: dict[str, str] = field(default_factory=dict)  # label -> widget id
    uploader_id: str = ""  # the latest image uploader's widget id
    widgets: dict[str, object] = field(default_factory=dict)  # states this client set, resent with every run
    file_urls: object = None  # the latest FileURLsResponse
    upload_delete_url: str = ""  # where the image uploader's current file is deleted (a replacement deletes it first)
    grid: tuple[int, int] = (0, 0)  # (h, w) of the feature map, from the pixel row and column inputs
    cookies: dict[str, str] = field(default_factory=dict)  # from the health check: XSRF, a load balancer's replica

    async def receive(self, timeout: float) -> None:
        """Read one ForwardMsg and note what matters."""
        data = await asyncio.wait_for(self.socket.recv(), timeout)
        self.bytes_received += len(data)
        msg = ForwardMsg()
        msg.ParseFromString(data)
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self.running = True
            self.page_script_hash = msg.new_session.page_script_hash or self.page_script_hash
            self.session_id = msg.new_session.initialize.session_id or self.session_id
        elif kind == "file_urls_response":
            self.file_urls = msg.file_urls_response
        elif kind == "navigation":
            self.page_script_hash = msg.navigation.page_script_hash or self.page_script_hash
        elif kind == "session_status_changed":
            self.running = msg.session_status_changed.script_is_running
        elif kind == "script_finished" and msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
            self.finished_runs += 1  # a run cut short by a rerun is not a finished page
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            element = msg.delta.new_element
            if element.WhichOneof("type") == "markdown":
                self.texts.append(element.markdown.body)
            elif element.WhichOneof("type") == "imgs":
                self.texts.extend(image.caption for image in element.imgs.imgs)
            elif element.WhichOneof("type") == "plotly_chart":
                self.texts.append(element.plotly_chart.spec)
                if element.plotly_chart.id:  # "$$ID-<hash>-<key>"
                    key = element.plotly_chart.id.split("-", 2)[-1]
                    self.charts[key] = Chart(element.plotly_chart.id, msg.delta.fragment_id)
            elif element.WhichOneof("type") == "number_input" and element.number_input.label.startswith("pixel "):
                h, w = self.grid  # labels "pixel row (0-59)" and "pixel column (0-79)"
                size = int(element.number_input.max) + 1
                self.grid = (size, w) if "row" in element.number_input.label else (h, size)
            elif element.WhichOneof("type") == "radio":
                self.radios[element.radio.label] = element.radio.id
            elif element.WhichOneof("type") == "file_uploader" and element.file_uploader.label == "image file":
                self.uploader_id = element.file_uploader.id
            elif element.WhichOneof("type") == "exception":
                self.exceptions.append(element.exception.message[:200])

    async def until_idle(self, runs_before: int, timeout: float) -> None:
        """Until a run that started after `runs_before` has finished and no other is running (the app
        may rerun itself once, e.g. to leave Streamlit's legacy pages mode)."""
        deadline = time.monotonic() + timeout
        while self.finished_runs <= runs_before or self.running:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the run did not finish")
            await self.receive(left)

    async def rerun(self, page: str, query: str, widgets: list | None = None, fragment_id: str = "") -> None:
        """Run `page` (its URL path; "" the home page), sending every widget state this client has set,
        as the frontend sends all of its widgets' states."""
        self.texts.clear()
        self.widgets.update({w.id: w for w in widgets or []})
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string, state.page_name = query, page
        state.page_script_hash = self.page_script_hash if fragment_id else ""
        if fragment_id:
            state.fragment_id = fragment_id
        state.widget_states.widgets.extend(self.widgets.values())
        await self.socket.send(msg.SerializeToString())


async def open_page(url: str, page: str, query: str, timeout: float,
                    cookies: dict[str, str] | None = None) -> tuple[Session, float]:
    """A new session on `page` with `query` (like opening the URL): (session, seconds to idle). As the
    frontend does, it first calls the health check and keeps its cookies (`cookies` are sent with it:
    behind a sticky load balancer they choose the replica) for the websocket and uploads."""
    import websockets

    start = time.monotonic()
    cookies = await asyncio.to_thread(health_cookies, url, cookies or {})
    socket = await websockets.connect(url.replace("http", "ws", 1) + "/_stcore/stream", subprotocols=["streamlit"],
                                      max_size=None, open_timeout=timeout,
                                      additional_headers={"Cookie": cookie_header(cookies)} if cookies else None)
    session = Session(socket, cookies=cookies)
    await session.rerun(page, query)
    await session.until_idle(0, timeout)
    return session, time.monotonic() - start


def selection_state(widget_id: str, row: int, col: int):
    """The widget state the frontend sends when a point at (x = col, y = row) of a chart is clicked."""
    point = {"curve_number": 1, "point_number": 0, "point_index": 0, "x": col, "y": row}
    state = WidgetState(id=widget_id)
    state.string_value = json.dumps({"selection": {"points": [point], "point_indices": [0], "box": [], "lasso": []}})
    return state


async def click(session: Session, page: str, query: str, chart_key: str, row: int, col: int,
                timeout: float) -> tuple[float, int]:
    """Click cell (row, col) of the chart with key `chart_key`: (seconds to the run's end, bytes received).
    Raises if no figure came back naming that pixel (the app titles its pixel charts "(row r, col c)")."""
    chart = session.charts.get(chart_key)
    if chart is None:
        raise KeyError(f"no clickable chart {chart_key!r} on the page (found {sorted(session.charts)})")
    runs, received, start = session.finished_runs, session.bytes_received, time.monotonic()
    await session.rerun(page, query, [selection_state(chart.widget_id, row, col)], chart.fragment_id)
    await session.until_idle(runs, timeout)
    seconds = time.monotonic() - start
    if not any(f"(row {row}, col {col})" in text for text in session.texts):
        raise AssertionError(f"the click on ({row}, {col}) did not redraw a chart for that pixel")
    return seconds, session.bytes_received - received


def cookie_header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


def health_cookies(url: str, cookies: dict[str, str]) -> dict[str, str]:
    """`cookies` and those the health check sets: Streamlit's XSRF token (an upload echoes it in a
    header) and, behind the replicas' nginx, the replica this client sticks to."""
    import urllib.request
    from http.cookies import SimpleCookie

    request = urllib.request.Request(url + "/_stcore/health", headers={"Cookie": cookie_header(cookies)} if cookies else {})
    with urllib.request.urlopen(request, timeout=30) as response:
        jar = SimpleCookie()
        for header in response.headers.get_all("Set-Cookie") or []:
            jar.load(header)
    return cookies | {k: m.value for k, m in jar.items()}


def file_request(url: str, file_url: str, method: str, cookies: dict[str, str], body: bytes | None = None,
                 headers: dict[str, str] | None = None) -> None:
    """One request to an upload or delete URL the server gave, with the cookies and the XSRF token
    Streamlit checks on both (the URL may be relative to the app's)."""
    import urllib.request

    headers = dict(headers or {})
    if cookies:
        headers["Cookie"] = cookie_header(cookies)
    if cookies.get("_streamlit_xsrf"):
        headers["X-Xsrftoken"] = cookies["_streamlit_xsrf"]
    target = file_url if file_url.startswith("http") else url + file_url
    urllib.request.urlopen(urllib.request.Request(target, data=body, method=method, headers=headers), timeout=60).read()


def put_file(url: str, upload_url: str, name: str, data: bytes, cookies: dict[str, str]) -> None:
    """PUT one file as multipart form data to the upload URL the server gave."""
    boundary = "ocrvizboundary7MA4YWxkTrZu0gW"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    file_request(url, upload_url, "PUT", cookies, body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})


def delete_file(url: str, delete_url: str, cookies: dict[str, str]) -> None:
    """DELETE an uploaded file, as the frontend does when a single-file uploader's file is replaced
    or removed: the server keeps every file of a session until then (or until the session ends)."""
    file_request(url, delete_url, "DELETE", cookies)


async def upload(session: Session, url: str, name: str, data: bytes, timeout: float) -> float:
    """Choose "Upload" in the sidebar, send the file as the frontend does (ask for an upload URL, delete
    the uploader's previous file, PUT the new one, set the uploader's state), and wait for the run that
    traces it: seconds for that run."""
    radio_id = session.radios["source"]
    runs = session.finished_runs
    await session.rerun("", "", [WidgetState(id=radio_id, string_value="Upload")])  # a radio sends its option text
    await session.until_idle(runs, timeout)
    request = BackMsg()
    request.file_urls_request.request_id, request.file_urls_request.session_id = name, session.session_id
    request.file_urls_request.file_names.append(name)
    session.file_urls = None
    await session.socket.send(request.SerializeToString())
    deadline = time.monotonic() + timeout
    while session.file_urls is None or session.file_urls.response_id != name:
        await session.receive(max(0.1, deadline - time.monotonic()))
    urls = session.file_urls.file_urls[0]
    if session.upload_delete_url:  # the frontend's order for a single-file uploader: new URLs, delete, upload
        await asyncio.to_thread(delete_file, url, session.upload_delete_url, session.cookies)
        session.upload_delete_url = ""
    await asyncio.to_thread(put_file, url, urls.upload_url, name, data, session.cookies)
    session.upload_delete_url = urls.delete_url
    state = WidgetState(id=session.uploader_id)
    info = state.file_uploader_state_value.uploaded_file_info.add()
    info.name, info.size, info.file_id = name, len(data), urls.file_id
    info.file_urls.CopyFrom(urls)
    runs, start = session.finished_runs, time.monotonic()
    await session.rerun("", "", [state])
    await session.until_idle(runs, timeout)
    if not any(name in text for text in session.texts):
        raise AssertionError(f"the page does not name the uploaded {name}")
    return time.monotonic() - start
