"""A light plotly widget: the figure travels as JSON, plotly.js is loaded once per page.

``solara.FigurePlotly`` wraps plotly's ``FigureWidget``, whose front-end module (about 5 MB)
is sent through the websocket for every figure on the page, and whose 2-D arrays travel as
JSON lists in which NaN is invalid (the browser then drops the whole message). With four
figures that made the first page take over ten seconds. Here the figure is serialised by
``plotly.io.to_json`` (NaN becomes null), and plotly.js is the file shipped in the plotly
package, served by the dashboard's own server (see :mod:`metrosim.dashboard.server`) and loaded
by a script tag once per page. ``Plotly.react`` redraws only what changed and keeps zoom
(``layout.uirevision``); the mode bar's camera button saves a PNG in the browser, offline.
"""

from __future__ import annotations

import json
from pathlib import Path

import anywidget
import plotly
import plotly.graph_objects as go
import solara
import traitlets

__all__ = ["PlotlyView", "Plot", "DownloadButton", "Download", "PLOTLY_JS_DIR", "PLOTLY_JS_URL"]

#: Folder holding ``plotly.min.js`` (shipped inside the plotly package).
PLOTLY_JS_DIR = Path(plotly.__file__).parent / "package_data"
#: Where the dashboard's server serves it (Solara's ``/static/assets`` with an extra folder).
PLOTLY_JS_URL = "/static/assets/plotly.min.js"

_ESM = """
function loadPlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!window.__metrosimPlotly) {
    window.__metrosimPlotly = new Promise((resolve, reject) => {
      // plotly.min.js is a UMD bundle: with requirejs on the page it would register itself as
      // an anonymous AMD module instead of setting window.Plotly, so hide define meanwhile.
      const define = window.define;
      window.define = undefined;
      const s = document.createElement("script");
      const root = (window.solara && window.solara.rootPath) || "";
      s.src = root + "%URL%";
      s.onload = () => { window.define = define; resolve(window.Plotly); };
      s.onerror = (e) => { window.define = define; reject(e); };
      document.head.appendChild(s);
    });
  }
  return window.__metrosimPlotly;
}

export default {
  async render({ model, el }) {
    const div = document.createElement("div");
    div.style.width = "100%";
    el.appendChild(div);
    const Plotly = await loadPlotly();
    const draw = () => {
      const fig = JSON.parse(model.get("figure") || "{}");
      const config = Object.assign(
        {
          responsive: true,
          displaylogo: false,
          showSendToCloud: false,
          showEditInChartStudio: false,
          modeBarButtonsToRemove: ["sendDataToCloud"],
        },
        JSON.parse(model.get("config") || "{}")
      );
      Plotly.react(div, fig.data || [], fig.layout || {}, config);
    };
    draw();
    model.on("change:figure", draw);
    return () => { model.off("change:figure", draw); Plotly.purge(div); };
  },
};
""".replace("%URL%", PLOTLY_JS_URL)


class PlotlyView(anywidget.AnyWidget):
    """A plotly figure drawn by plotly.js in the page (``figure`` is the figure's JSON)."""

    _esm = _ESM
    figure = traitlets.Unicode("{}").tag(sync=True)
    config = traitlets.Unicode("{}").tag(sync=True)


@solara.component
def Plot(fig: go.Figure, filename: str = "metrosim"):
    """Show a plotly figure; the camera button saves ``filename.png``."""
    config = solara.use_memo(
        lambda: json.dumps({"toImageButtonOptions": {"filename": filename, "scale": 2}}),
        [filename],
    )
    figure = solara.use_memo(fig.to_json, [fig])
    return PlotlyView.element(figure=figure, config=config)


_DOWNLOAD_ESM = """
export default {
  render({ model, el }) {
    const b = document.createElement("button");
    b.className = "metrosim-download";
    b.style.cssText = "padding:6px 16px;border:1px solid #6200ea;border-radius:4px;" +
      "color:#6200ea;background:white;font:500 14px Roboto,sans-serif;cursor:pointer";
    const label = () => { b.textContent = model.get("label"); };
    label();
    model.on("change:label", label);
    b.onclick = () => { b.disabled = true; model.send({ event: "request" }); };
    const onMsg = (msg) => {
      if (!msg || msg.event !== "file") return;
      b.disabled = false;
      const url = URL.createObjectURL(new Blob([msg.content], { type: msg.mime }));
      const a = document.createElement("a");
      a.href = url;
      a.download = msg.filename;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    };
    model.on("msg:custom", onMsg);
    el.appendChild(b);
    return () => model.off("msg:custom", onMsg);
  },
};
"""


class DownloadButton(anywidget.AnyWidget):
    """A button that asks the server for a text file and saves it in the browser.

    The content is made only when the button is pressed (a self-contained HTML page is
    megabytes) and sent once as a message. ``solara.FileDownload`` is not used: its front end
    is written for Vuetify 2 and shows no button under Vuetify 3.
    """

    _esm = _DOWNLOAD_ESM
    label = traitlets.Unicode("").tag(sync=True)


@solara.component
def Download(label: str, filename: str, make, mime: str = "text/html"):
    """A download button; ``make()`` returns the file's text when it is pressed."""
    latest = solara.use_ref((make, filename, mime))
    latest.current = (make, filename, mime)
    el = DownloadButton.element(label=label)

    def attach():
        widget = solara.get_widget(el)

        def on_msg(_widget, content, _buffers):
            if isinstance(content, dict) and content.get("event") == "request":
                make_now, name, kind = latest.current
                message = {"event": "file", "filename": name, "mime": kind}
                widget.send({**message, "content": make_now()})

        widget.on_msg(on_msg)
        return lambda: widget.on_msg(on_msg, remove=True)

    solara.use_effect(attach, [])
    return el
