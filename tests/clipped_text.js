// Text a reader cannot read whole, found in the rendered page (run by tests/test_clipping.py through
// page.evaluate; returns a list of problems, each {kind, where, text}):
// - HTML text cut off by an ancestor that hides overflow (a scrolling box is fine: it can be read);
// - in plotly figures: text outside the figure, texts drawn over each other (titles, ticks, labels,
//   annotations, legend entries), axis text under a colour bar or a legend;
// - the pipeline diagram's text smaller than `minDiagramPx`, when given.
(options) => {
  const TOL = 1.5;
  const problems = [];
  const short = s => (s || '').replace(/\s+/g, ' ').trim().slice(0, 80);
  const overlap = (a, b) => Math.max(0, Math.min(a.right, b.right) - Math.max(a.left, b.left)) *
    Math.max(0, Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top));
  const area = r => Math.max(0, r.width) * Math.max(0, r.height);
  const pageBoxes = ['stAppViewContainer', 'stMain', 'stSidebar', 'stSidebarContent', 'stApp'];
  const skipHtml = 'svg, .js-plotly-plot, [data-testid="stDataFrame"], .katex-mathml, [data-testid="stGraphVizChart"]';

  // 1. HTML text
  for (const root of document.querySelectorAll('[data-testid="stMain"], [data-testid="stSidebar"]')) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.textContent.trim()) continue;
      const element = node.parentElement;
      if (element.closest(skipHtml)) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      const rects = [...range.getClientRects()].filter(r => r.width > 0 && r.height > 0);
      if (!rects.length) continue;
      for (let box = element; box && box !== document.body; box = box.parentElement) {
        const style = getComputedStyle(box);
        const scrolls = v => v === 'auto' || v === 'scroll';
        if (scrolls(style.overflowX) && scrolls(style.overflowY)) break;  // can be scrolled to and read
        const page = pageBoxes.includes(box.getAttribute('data-testid'));  // the page scrolls vertically
        const clipsX = ['hidden', 'clip'].includes(style.overflowX);
        const clipsY = !page && ['hidden', 'clip'].includes(style.overflowY);
        if (!clipsX && !clipsY) continue;
        const b = box.getBoundingClientRect();
        if (b.width === 0 || b.height === 0) break;  // a collapsed container: nothing shown
        const cut = rects.some(r => (clipsX && (r.left < b.left - TOL || r.right > b.right + TOL)) ||
                                    (clipsY && (r.top < b.top - TOL || r.bottom > b.bottom + TOL)));
        if (cut) problems.push({kind: 'text cut off', where: root.getAttribute('data-testid'), text: short(node.textContent)});
        break;
      }
    }
  }

  // 2. plotly figures
  const rotated = t => /rotate\((?!0[ ,)])/.test((t.getAttribute('transform') || '') + (t.parentElement.getAttribute('transform') || ''));
  for (const plot of document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot')) {
    const svg = plot.querySelector('svg.main-svg');
    if (!svg) continue;
    const figure = svg.getBoundingClientRect();
    if (figure.width === 0) continue;
    const name = short(plot.querySelector('.gtitle')?.textContent) || '(untitled figure)';
    const texts = [...plot.querySelectorAll('svg text')]
      .filter(t => t.textContent.trim() && !t.closest('.hoverlayer') && getComputedStyle(t).display !== 'none' &&
                   getComputedStyle(t).visibility !== 'hidden' && t.getAttribute('opacity') !== '0')
      .map(t => ({t, r: t.getBoundingClientRect()})).filter(x => x.r.width > 0);
    for (const {t, r} of texts) {
      if (r.left < figure.left - TOL || r.right > figure.right + TOL || r.top < figure.top - TOL || r.bottom > figure.bottom + TOL)
        problems.push({kind: 'text outside the figure', where: name, text: short(t.textContent)});
    }
    for (let i = 0; i < texts.length; i++) for (let j = i + 1; j < texts.length; j++) {
      const a = texts[i], b = texts[j];
      if (rotated(a.t) && rotated(b.t)) continue;  // boxes of slanted labels overlap where the glyphs do not
      const o = overlap(a.r, b.r);
      if (o > 0.1 * Math.min(area(a.r), area(b.r)) && o > 4)
        problems.push({kind: 'texts overlap', where: name, text: short(a.t.textContent) + ' | ' + short(b.t.textContent)});
    }
    const legendItems = [...plot.querySelectorAll('.legend .traces')].map(g => {
      const parts = [...g.querySelectorAll('text, .legendpoints path, .legendpoints .legendundefined')]
        .map(e => e.getBoundingClientRect()).filter(r => r.width > 0);
      if (!parts.length) return null;
      return {left: Math.min(...parts.map(r => r.left)), right: Math.max(...parts.map(r => r.right)),
              top: Math.min(...parts.map(r => r.top)), bottom: Math.max(...parts.map(r => r.bottom)),
              text: short(g.textContent)};
    }).filter(Boolean);
    for (let i = 0; i < legendItems.length; i++) for (let j = i + 1; j < legendItems.length; j++)
      if (overlap(legendItems[i], legendItems[j]) > 2)
        problems.push({kind: 'legend entries overlap', where: name, text: legendItems[i].text + ' | ' + legendItems[j].text});
    const covers = [...plot.querySelectorAll('.colorbar .cbbg, .colorbar .cbfills, .legend .bg')]
      .map(e => e.getBoundingClientRect()).filter(r => r.width > 0);
    for (const {t, r} of texts) {
      if (!t.closest('.g-xtitle, .g-ytitle, .xtick, .ytick')) continue;
      if (covers.some(c => overlap(r, c) > 4)) problems.push({kind: 'axis text under a colour bar or legend', where: name, text: short(t.textContent)});
    }
  }

  // 3. the pipeline diagram: inside its box, and its text large enough
  for (const chart of document.querySelectorAll('[data-testid="stMain"] [data-testid="stGraphVizChart"]')) {
    const box = chart.getBoundingClientRect();
    for (const t of chart.querySelectorAll('svg text')) {
      const r = t.getBoundingClientRect();
      if (r.width && (r.left < box.left - TOL || r.right > box.right + TOL))
        problems.push({kind: 'text outside the diagram', where: 'pipeline diagram', text: short(t.textContent)});
    }
  }
  if (options && options.minDiagramPx) {
    for (const t of document.querySelectorAll('[data-testid="stMain"] [data-testid="stGraphVizChart"] svg text')) {
      const matrix = t.getScreenCTM();
      const px = parseFloat(t.getAttribute('font-size') || getComputedStyle(t).fontSize) * Math.abs(matrix ? matrix.d : 1);
      if (px + 0.5 < options.minDiagramPx) {
        problems.push({kind: 'diagram text too small', where: 'pipeline diagram', text: `${short(t.textContent)}: ${px.toFixed(1)} px < ${options.minDiagramPx} px`});
        break;
      }
    }
  }
  return problems;
}
