// The avatar picker: a card per avatar the server serves (GET /avatars) with its poster,
// name, resolution and description. Choosing a card chooses that avatar in the page's
// <select id="avatar">, which the rest of the page reads, and fires its change event. An
// avatar without a poster (or whose poster cannot be fetched) shows its name and
// resolution alone. Posters are fetched by the caller's fetchPoster (with the page's
// headers: the server's token, when it has one) and shown from blob URLs.
"use strict";
const AvatarPicker = (() => {
  let urls = [];                  // the blob URLs of the posters shown
  const watched = new WeakSet();  // the selects whose changes mark the chosen card

  function mark(container, name) {
    for (const card of container.querySelectorAll(".avatar-card")) {
      card.setAttribute("aria-pressed", String(card.dataset.name === name));
    }
  }

  function card(a, select, fetchPoster) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "avatar-card";
    button.dataset.name = a.name;
    button.title = a.description || a.name;
    if (a.poster) {
      const thumb = document.createElement("span");
      thumb.className = "thumb";
      const img = document.createElement("img");
      img.alt = "";
      thumb.appendChild(img);
      button.appendChild(thumb);
      fetchPoster(a.poster).then((blob) => {
        const url = URL.createObjectURL(blob);
        urls.push(url);
        img.src = url;
      }).catch((err) => {
        console.warn(`the poster of ${a.name} cannot be shown:`, err);
        thumb.remove();
      });
    }
    const text = document.createElement("span");
    text.className = "text";
    const name = document.createElement("strong");
    name.textContent = a.name;
    const size = document.createElement("span");
    size.textContent = `${a.resolution} px`;
    text.append(name, size);
    if (a.description) {
      const about = document.createElement("small");
      about.textContent = a.description;
      text.appendChild(about);
    }
    button.appendChild(text);
    button.onclick = () => {
      if (select.value === a.name) return;
      select.value = a.name;
      select.dispatchEvent(new Event("change"));
    };
    return button;
  }

  // list: [{name, resolution, description, poster}] as GET /avatars gives it; fills
  // `select` with an option per avatar and `container` with their cards.
  function show(container, select, list, fetchPoster) {
    urls.forEach((url) => URL.revokeObjectURL(url));
    urls = [];
    container.textContent = "";
    select.textContent = "";
    for (const a of list) {
      const opt = document.createElement("option");
      opt.value = a.name;
      opt.textContent = `${a.name} (${a.resolution}px)`;
      select.appendChild(opt);
      container.appendChild(card(a, select, fetchPoster));
    }
    if (!watched.has(select)) {
      watched.add(select);
      select.addEventListener("change", () => mark(container, select.value));
    }
    mark(container, select.value);
  }

  return { show };
})();
