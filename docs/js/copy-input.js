// The copy button of a console or doctest block copies what is typed, without the prompts
// (`>>> `, `... `, `$ `) and without the output lines. Material copies the `data-copy`
// attribute of the block when it has one, so each such block gets one. Such a block also gets
// the class `prompted`: css/cli.css moves its first line (the command) below the copy button,
// which would otherwise cover the command's end on a narrow screen.
function copyInputOnly() {
  for (const code of document.querySelectorAll(".highlight pre > code")) {
    if (!code.querySelector(".gp")) continue;
    const clone = code.cloneNode(true);
    clone.querySelectorAll(".gp").forEach((prompt) => prompt.remove());
    clone.querySelectorAll(".go").forEach((output) => output.replaceWith("\u0000"));
    const lines = clone.textContent.split("\n").filter((line) => !line.includes("\u0000"));
    code.parentElement.setAttribute("data-copy", lines.join("\n").trimEnd());
    code.parentElement.classList.add("prompted");
  }
}
if (typeof document$ !== "undefined") {
  document$.subscribe(copyInputOnly);
} else {
  document.addEventListener("DOMContentLoaded", copyInputOnly);
}
