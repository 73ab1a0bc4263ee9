// A table wider than the text column scrolls sideways in Material's wrapper, and on a phone
// nothing showed that its last columns were out of sight. Above each table that scrolls, a
// line says so (css/extra.css also shades the edge it scrolls towards); it goes when the window
// is wide enough again.
function markWideTables() {
  for (const wrap of document.querySelectorAll(".md-typeset__scrollwrap")) {
    const scrolls = wrap.scrollWidth > wrap.clientWidth + 1;
    const hint = wrap.previousElementSibling;
    const hinted = hint !== null && hint.classList.contains("table-scroll-hint");
    wrap.classList.toggle("table-scrolls", scrolls);
    if (scrolls && !hinted) {
      const line = document.createElement("p");
      line.className = "table-scroll-hint";
      line.textContent = "Wide table: scroll it sideways for the other columns \u2192";
      wrap.before(line);
    } else if (!scrolls && hinted) {
      hint.remove();
    }
  }
}
if (typeof document$ !== "undefined") {
  document$.subscribe(markWideTables);
} else {
  document.addEventListener("DOMContentLoaded", markWideTables);
}
window.addEventListener("resize", markWideTables);
