"""The one HTML page of `sheetprop serve`, and the content security policy that lets nothing else in.

The page is whole in itself (inline CSS and script, the loss curves as inline SVG: no CDN, no
font, nothing fetched), so it works on a network without the internet and can be saved with its
result. Its form works without JavaScript: the browser posts the file and the answer is the
same page with the result in it. With JavaScript the file can be dropped on the form, a bar
shows the upload, and the result replaces the old one without leaving the page (the script
sends the same form and takes the result out of the same answer); when the server is busy it
tries again after the time the server asks for, three times.

The policy allows this page's own style and script by their SHA-256 (and the class page's
style), forms posted to this server only, and nothing from anywhere else.
"""

from __future__ import annotations

import base64
import hashlib
import html

from sheetprop.reports.classpage import CSS as CLASS_CSS
from sheetprop.serve.upload import FILE_FIELD, MAX_NAME, NAME_FIELD, size_text

BUSY_RETRIES = 3

CSS = """
body { font: 16px/1.5 system-ui, "DejaVu Sans", sans-serif; margin: 0; color: #1d1d1d; background: #f6f7f9; }
main { max-width: 860px; margin: 0 auto; padding: 1.5em 1.2em 3em; }
h1 { font-size: 1.6em; margin: 0.2em 0 0.1em; }
.lead { color: #444; margin-top: 0; }
form#upload { background: #fff; border: 1px solid #d5d9de; border-radius: 8px; padding: 1em 1.2em; }
.drop { border: 2px dashed #9aa5b1; border-radius: 8px; padding: 1.2em; text-align: center; }
.drop.over { border-color: #1565c0; background: #e8f1fc; }
.drop-hint { display: none; color: #555; }
.js .drop-hint { display: block; }
label { font-weight: 600; }
input[type=text] { font: inherit; padding: 0.3em 0.5em; width: min(24em, 100%); }
.field { margin: 0.8em 0 0; }
button { font: inherit; font-weight: 600; margin-top: 1em; padding: 0.5em 1.4em; border: 0; border-radius: 6px;
         background: #1565c0; color: #fff; cursor: pointer; }
button:disabled { background: #8aa6c8; cursor: wait; }
progress { width: 100%; height: 0.8em; margin-top: 0.8em; }
#status { display: block; min-height: 1.5em; color: #444; }
#result { margin-top: 1.5em; background: #fff; border: 1px solid #d5d9de; border-left-width: 6px;
          border-radius: 8px; padding: 0.4em 1.2em 1em; }
#result:empty { display: none; }
#result.right { border-left-color: #2e7d32; } #result.wrong { border-left-color: #c62828; }
#result.error, #result.refused { border-left-color: #6a1b9a; }
#verdict { margin: 0.5em 0 0.2em; font-size: 1.35em; }
.right #verdict { color: #1b5e20; } .wrong #verdict { color: #b71c1c; } .error #verdict { color: #4a148c; }
.score { font-size: 1.1em; margin: 0.2em 0; } .file { color: #666; font-size: 0.85em; }
ol.fix li { margin-bottom: 0.6em; } .why { color: #4e342e; } .name { color: #666; font-size: 0.85em; }
.note, .notes { color: #555; font-size: 0.92em; }
code { font-family: "DejaVu Sans Mono", monospace; font-size: 0.9em; background: #f0f2f4; padding: 0 0.2em; }
.curves { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; width: 100%; max-width: 470px; } figcaption { font-size: 12px; color: #444; }
figure svg { width: 100%; height: auto; }
svg text { font: 11px system-ui, "DejaVu Sans", sans-serif; fill: #333; }
table.answers { border-collapse: collapse; font-size: 0.88em; margin-top: 0.5em; }
table.answers th, table.answers td { text-align: left; padding: 2px 8px; border-bottom: 1px solid #e6e6e6; }
table.answers tr.incorrect td, table.answers tr.error td { background: #fdecea; }
table.answers tr.hardcoded td, table.answers tr.missing td { background: #fff6e5; }
summary { cursor: pointer; margin-top: 1em; }
footer { color: #777; font-size: 0.85em; margin-top: 2em; }
"""

SCRIPT = """
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  var form = document.getElementById("upload"), input = document.getElementById("file");
  var drop = document.getElementById("drop"), bar = document.getElementById("progress");
  var status = document.getElementById("status"), button = form.querySelector("button");
  var limit = Number(form.getAttribute("data-max-bytes"));
  var retries = Number(form.getAttribute("data-retries"));

  function say(text) { status.textContent = text; }
  function done() { bar.hidden = true; button.disabled = false; }
  function show(fresh) {
    var old = document.getElementById("result");
    old.parentNode.replaceChild(document.importNode(fresh, true), old);
    document.getElementById("result").focus();
  }
  function send(attempt) {
    var file = input.files[0];
    if (!file) { say("Choose your workbook (.xlsx) first."); return; }
    if (file.size > limit) {
      say(file.name + " is larger than " + form.getAttribute("data-max-text") + ": is it the right file?");
      return;
    }
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.responseType = "document";
    button.disabled = true; bar.hidden = false; bar.value = 0;
    say("Uploading " + file.name + "…");
    xhr.upload.onprogress = function (e) { if (e.lengthComputable) { bar.value = e.loaded / e.total; } };
    xhr.upload.onload = function () { bar.removeAttribute("value"); say("Checking " + file.name + "…"); };
    xhr.onload = function () {
      var fresh = xhr.response && xhr.response.getElementById("result");
      if (xhr.status === 503 && attempt < retries) {
        var wait = Number(xhr.getResponseHeader("Retry-After")) || 30;
        say("The server is busy: trying again in " + wait + " s (" + (attempt + 1) + " of " + retries + ").");
        setTimeout(function () { send(attempt + 1); }, wait * 1000);
        return;
      }
      done();
      if (fresh) { say(""); show(fresh); }
      else { say("The server answered " + xhr.status + " " + xhr.statusText + ": try again in a minute."); }
    };
    xhr.onerror = function () { done(); say("The upload failed: check your connection and try again."); };
    xhr.send(new FormData(form));
  }
  form.addEventListener("submit", function (e) { e.preventDefault(); send(0); });
  ["dragenter", "dragover"].forEach(function (type) {
    drop.addEventListener(type, function (e) { e.preventDefault(); drop.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (type) {
    drop.addEventListener(type, function () { drop.classList.remove("over"); });
  });
  drop.addEventListener("drop", function (e) {
    e.preventDefault();
    if (e.dataTransfer && e.dataTransfer.files.length) {
      input.files = e.dataTransfer.files;
      if (form.reportValidity()) { send(0); }
    }
  });
}());
"""


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


CSP = ("default-src 'none'; "
       f"script-src {_sha256(SCRIPT)}; "
       f"style-src {_sha256(CSS)} {_sha256(CLASS_CSS)}; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")

HEADERS = {  # every answer of the server carries these
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cache-Control": "no-store",
}


def _text(value) -> str:
    return html.escape(str(value), quote=True)


def page(title: str, lead: str, max_bytes: int, ask_name: bool, result: str = "", footer: str = "") -> str:
    """The whole page: the form, and `result` (a `view.student_view_html` section, or a refusal) under it."""
    name = (f"<div class=\"field\"><label for=\"student\">Your name or student id</label><br>"
            f"<input type=\"text\" id=\"student\" name=\"{NAME_FIELD}\" maxlength=\"{MAX_NAME}\" required "
            "autocomplete=\"name\"></div>" if ask_name else "")
    form = (f"<form id=\"upload\" method=\"post\" action=\"check\" enctype=\"multipart/form-data\" "
            f"data-max-bytes=\"{max_bytes}\" data-max-text=\"{_text(size_text(max_bytes))}\" "
            f"data-retries=\"{BUSY_RETRIES}\">"
            "<div id=\"drop\" class=\"drop\"><label for=\"file\">Your workbook (.xlsx)</label><br>"
            f"<input type=\"file\" id=\"file\" name=\"{FILE_FIELD}\" required "
            "accept=\".xlsx,.xlsm,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet\">"
            "<span class=\"drop-hint\">or drop it here</span></div>" + name +
            "<button type=\"submit\">Check my workbook</button>"
            "<progress id=\"progress\" max=\"1\" hidden></progress>"
            "<span id=\"status\" role=\"status\" aria-live=\"polite\"></span></form>")
    return shell(title, f"<p class=\"lead\">{lead}</p>\n{form}\n{result or EMPTY_RESULT}\n<footer>{footer}</footer>",
                 script=True)


EMPTY_RESULT = "<section id=\"result\"></section>"


def shell(title: str, body: str, script: bool = False) -> str:
    """A page of this server: its style, the title as heading, `body`, and the page's script if asked."""
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{_text(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
            f"<h1>{_text(title)}</h1>\n{body}\n</main>\n" + (f"<script>{SCRIPT}</script>\n" if script else "")
            + "</body>\n</html>\n")


def refusal(message: str) -> str:
    """The result part of the page for an upload that was not graded (too large, busy, no file)."""
    return (f"<section id=\"result\" class=\"refused\" data-verdict=\"refused\" tabindex=\"-1\" "
            f"aria-labelledby=\"verdict\"><h2 id=\"verdict\">Not checked</h2><p class=\"problem\">{_text(message)}</p>"
            "</section>")
