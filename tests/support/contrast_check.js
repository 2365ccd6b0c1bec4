(() => {
  // WCAG contrast of every visible text (see contrast_check.py), run by page.evaluate.
  const parse = (value) => {
    let m = value.match(/^rgba?\(([^)]+)\)$/);
    if (m) {
      const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number);
      return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
    }
    m = value.match(/^color\(srgb ([^)]+)\)$/);
    if (m) {
      const p = m[1].split(/[ \/]+/).filter(Boolean).map(Number);
      return [p[0] * 255, p[1] * 255, p[2] * 255, p.length > 3 ? p[3] : 1];
    }
    return null;
  };
  const over = (top, bottom) => {  // top composited over an opaque bottom
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a)).concat([1]);
  };
  const luminance = (c) => {
    const ch = c.slice(0, 3).map((v) => {
      v = v / 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2];
  };
  const ratio = (a, b) => {
    const [l1, l2] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (l1 + 0.05) / (l2 + 0.05);
  };
  const canvas = () => {
    // The canvas takes the root's (or body's) background; else the scheme's default.
    for (const el of [document.documentElement, document.body]) {
      if (!el) continue;
      const c = parse(getComputedStyle(el).backgroundColor);
      if (c && c[3] > 0) return over(c, [255, 255, 255, 1]);
    }
    const dark = getComputedStyle(document.documentElement).colorScheme.includes("dark")
      && matchMedia("(prefers-color-scheme: dark)").matches;
    return dark ? [18, 18, 18, 1] : [255, 255, 255, 1];
  };
  const base = canvas();
  const background = (el) => {
    const layers = [];
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      const style = getComputedStyle(e);
      if (style.backgroundImage && style.backgroundImage !== "none") return null;
      const c = parse(style.backgroundColor);
      if (c && c[3] > 0) {
        layers.push(c);
        if (c[3] >= 1) break;
      }
    }
    let color = base;
    for (const layer of layers.reverse()) color = over(layer, color);
    return color;
  };
  const visible = (el) => {
    const style = getComputedStyle(el);
    if (style.visibility !== "visible" || style.display === "none") return false;
    if (el.closest(".visually-hidden, [hidden], [aria-hidden=true]")) return false;
    const r = el.getBoundingClientRect();
    if (r.width < 2 || r.height < 2) return false;
    let opacity = 1;
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      opacity *= Number(getComputedStyle(e).opacity);
    }
    return opacity > 0.01;
  };
  const describe = (el) => {
    const parts = [];
    for (let e = el; e && e.nodeType === 1 && parts.length < 4; e = e.parentElement) {
      let s = e.tagName.toLowerCase();
      if (e.id) s += "#" + e.id;
      const cls = (e.getAttribute("class") || "").trim();
      if (cls) s += "." + cls.split(/\s+/).join(".");
      parts.unshift(s);
    }
    return parts.join(" > ");
  };
  const failures = [];
  let checked = 0;
  const check = (el, text, pseudo) => {
    if (!visible(el)) return;
    const style = getComputedStyle(el);
    const bg = background(el);
    const color = pseudo ? getComputedStyle(el, pseudo).color : style.color;
    const fg0 = parse(color);
    const size = parseFloat(style.fontSize);
    const bold = Number(style.fontWeight) >= 700;
    const large = size >= 24 || (size >= 18.66 && bold);
    const needed = large ? 3 : 4.5;
    checked++;
    if (!bg || !fg0) {
      failures.push({text, where: describe(el), ratio: 0, needed, color,
                     background: "unmeasurable"});
      return;
    }
    const fg = over(fg0, bg);
    const r = ratio(fg, bg);
    if (r < needed) {
      failures.push({text, where: describe(el), ratio: Math.round(r * 100) / 100, needed,
                     color, background: "rgb(" + bg.slice(0, 3).map(Math.round) + ")"});
    }
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.nodeValue.replace(/\s+/g, " ").trim();
    const el = node.parentElement;
    if (!text || !el || seen.has(el)) continue;
    if (el.closest("script, style, noscript, template, option, optgroup, select, textarea, title")) continue;
    seen.add(el);
    check(el, text.slice(0, 60));
  }
  for (const el of document.querySelectorAll("input:not([type=hidden]):not([type=checkbox]):not([type=radio]), select, textarea")) {
    const value = (el.value || "").trim();
    const hint = (el.placeholder || "").trim();
    const tag = "[" + el.tagName.toLowerCase() + "] ";
    if (value) check(el, tag + value.slice(0, 50));
    else if (hint) check(el, tag + "placeholder " + hint.slice(0, 40), "::placeholder");
  }
  return {checked, failures};
})
