// A page's "Udskriv" button: hidden without this script (the browser's own print works
// either way), shown and wired to the browser's print dialogue with it.
(function () {
  "use strict";
  var buttons = document.querySelectorAll("button.print");
  for (var i = 0; i < buttons.length; i++) {
    buttons[i].hidden = false;
    buttons[i].addEventListener("click", function () { window.print(); });
  }
})();
