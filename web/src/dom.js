// h('div', {class: 'card', onclick: fn}, 'text', child): a small element builder.
// Children that are not nodes become text (never HTML): data from the
// pipeline (alert messages, event bodies) cannot inject markup.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

// Replaces the children of `el`.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

// A segmented switch: buttons for `options` ([value, label]), one pressed.
// Calls onChange(value) when another is chosen.
export function segmented(name, options, current, onChange) {
  const el = h('div', {class: 'segmented', role: 'group', 'aria-label': name});
  const buttons = options.map(([value, label]) =>
    h('button', {type: 'button', 'data-value': value, 'aria-pressed': String(value === current),
                 onclick: () => select(value)}, label ?? value));
  function select(value) {
    for (const b of buttons) b.setAttribute('aria-pressed', String(b.dataset.value === value));
    onChange(value);
  }
  el.append(...buttons);
  return el;
}
