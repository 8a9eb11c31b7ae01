"""The browser runs: a local page with Chinese text and a form renders, and a click changes it."""
from __future__ import annotations

from tests.browser.conftest import dom_text

HTML = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>诉求登记</title></head>
<body>
  <h1>接诉即办</h1>
  <form id="appeal" onsubmit="event.preventDefault();
      document.getElementById('result').textContent = '已受理：' + this.content.value;">
    <label for="content">诉求内容</label>
    <textarea id="content" name="content"></textarea>
    <button type="submit">提交</button>
  </form>
  <p id="result"></p>
</body></html>"""


def test_renders_chinese_and_a_click_changes_the_dom(page):
    page.set_content(HTML)
    assert page.title() == "诉求登记"
    assert page.viewport_size == {"width": 390, "height": 844}
    assert page.evaluate("() => [navigator.language, window.devicePixelRatio]") == ["zh-CN", 2]
    text = dom_text(page)
    assert "接诉即办" in text and "诉求内容" in text and "<textarea" in text
    assert "已受理" not in page.inner_text("body")

    page.fill("#content", "小区路灯不亮")
    page.get_by_role("button", name="提交").click()

    assert page.text_content("#result") == "已受理：小区路灯不亮"
    assert '<p id="result">已受理：小区路灯不亮</p>' in dom_text(page)
