// The listening-test page: a single page that never navigates, so one AudioContext lives for the whole test.
//
// Playback uses the Web Audio API: every stimulus of a page is fetched and decoded into an AudioBuffer before the
// page is shown (and the next page's while this one is answered), so a play button starts at once, and switching
// between stimuli cross-fades in 10 ms at the same position (what a MUSHRA listener needs to compare). Leaving a
// page fades the sound out before the next page is drawn: no clicks, no gaps, no stale sources. The AudioContext is
// created inside the first click handler, so nothing can play before the listener clicks (browser autoplay rules).
// Ratings are sent page by page and the page advances only once the server has stored them.
'use strict';

(() => {
  const FADE = 0.01;  // seconds of cross-fade between stimuli and of fade-out on stop
  const RETRY_MILLISECONDS = 2000;
  const root = document.getElementById('app');
  const debug = {
    sourcesStarted: 0,
    contextState: () => (context ? context.state : 'none'),
    playing: () => (player && player.voice ? player.voice.id : null),
    position: () => (player ? player.position() : 0),
  };
  window.etudeDebug = debug;  // read by the browser tests; nothing depends on it

  let test = null;
  let listener = null;
  let context = null;
  let player = null;
  const buffers = new Map();  // stimulus id -> Promise<AudioBuffer>
  const pages = new Map();  // position -> Promise<page description>

  function element(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (name === 'onclick' || name === 'oninput' || name === 'onchange') node[name] = value;
      else if (value === true) node.setAttribute(name, '');
      else if (value !== false && value !== null && value !== undefined) node.setAttribute(name, String(value));
    }
    for (const child of children.flat()) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    return node;
  }

  function show(...children) {
    root.replaceChildren(element('h1', {}, test ? test.title : 'Listening test'), ...children);
  }

  async function request(method, path, body) {
    const options = { method, headers: {}, credentials: 'same-origin', cache: 'no-store' };
    if (body !== undefined) {
      options.headers['content-type'] = 'application/json';
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    let data = null;
    try { data = await response.json(); } catch (error) { data = null; }
    return { status: response.status, ok: response.ok, data };
  }

  async function patiently(action, onRetry) {
    // Network failures and server errors are retried until they pass; a 4xx is an answer and returned.
    for (;;) {
      try {
        const result = await action();
        if (result.status < 500) return result;
      } catch (error) { /* the network: try again */ }
      if (onRetry) onRetry();
      await new Promise((resolve) => setTimeout(resolve, RETRY_MILLISECONDS));
    }
  }

  class Player {
    constructor(audioContext) {
      this.context = audioContext;
      this.output = audioContext.createGain();
      this.output.connect(audioContext.destination);
      this.voice = null;
      this.loop = false;
      this.onchange = () => {};
    }

    position() {
      if (!this.voice) return 0;
      const elapsed = this.context.currentTime - this.voice.startedAt;
      return this.loop ? elapsed % this.voice.duration : Math.min(elapsed, this.voice.duration);
    }

    play(id, buffer) {
      const now = this.context.currentTime;
      let offset = 0;
      if (this.voice) {
        offset = this.position();
        if (offset >= buffer.duration - FADE) offset = 0;
        this.release(this.voice, now);
      }
      const gain = this.context.createGain();
      gain.gain.setValueAtTime(0, now);
      gain.gain.linearRampToValueAtTime(1, now + FADE);
      const source = this.context.createBufferSource();
      source.buffer = buffer;
      source.loop = this.loop;
      source.connect(gain);
      gain.connect(this.output);
      source.start(now, offset);
      const voice = { id, source, gain, startedAt: now - offset, duration: buffer.duration };
      source.onended = () => {
        if (this.voice === voice) { this.voice = null; this.onchange(); }
      };
      this.voice = voice;
      debug.sourcesStarted += 1;
      this.onchange();
    }

    release(voice, now) {
      voice.source.onended = null;
      voice.gain.gain.cancelScheduledValues(now);
      voice.gain.gain.setValueAtTime(voice.gain.gain.value, now);
      voice.gain.gain.linearRampToValueAtTime(0, now + FADE);
      voice.source.stop(now + FADE + 0.005);
    }

    stop() {
      if (!this.voice) return;
      const voice = this.voice;
      this.voice = null;
      this.release(voice, this.context.currentTime);
      this.onchange();
    }

    setLoop(on) {
      if (this.voice) {
        const position = this.position();
        this.voice.source.loop = on;
        this.voice.startedAt = this.context.currentTime - position;
      }
      this.loop = on;
    }
  }

  function startAudio() {
    // Called from a click handler only: the one place an AudioContext is made, so it starts 'running'.
    if (!context) {
      const AudioContextClass = window.AudioContext || window.webkitAudioContext;
      context = new AudioContextClass();
      player = new Player(context);
    }
    if (context.state === 'suspended') context.resume();
  }

  function buffer(id) {
    if (!buffers.has(id)) {
      const loading = patiently(async () => {
        const response = await fetch(`api/stimuli/${id}`, { credentials: 'same-origin' });
        return { status: response.status, data: response.ok ? await response.arrayBuffer() : null };
      }).then((result) => {
        if (!result.data) throw new Error(`stimulus ${id} could not be loaded (${result.status})`);
        return context.decodeAudioData(result.data);
      });
      loading.catch(() => buffers.delete(id));
      buffers.set(id, loading);
    }
    return buffers.get(id);
  }

  function page(position) {
    if (!pages.has(position)) {
      const loading = patiently(() => request('GET', `api/listeners/${listener}/pages/${position}`)).then(async (result) => {
        if (!result.ok) throw new Error(result.data ? result.data.error : `page ${position} could not be loaded`);
        const description = result.data;
        const ids = [...description.stimuli, ...(description.reference ? [description.reference] : [])];
        description.buffers = Object.fromEntries(await Promise.all(ids.map(async (id) => [id, await buffer(id)])));
        return description;
      });
      loading.catch(() => pages.delete(position));
      pages.set(position, loading);
    }
    return pages.get(position);
  }

  function forgetPagesBefore(position) {
    // Keep the decoded audio of this page and the next only: a long test must not fill the memory.
    const keep = new Set([position, position + 1]);
    for (const key of [...pages.keys()]) if (!keep.has(key)) pages.delete(key);
    Promise.all([...keep].filter((key) => key < test.pages).map((key) => page(key))).then((described) => {
      const needed = new Set(described.flatMap((description) => Object.keys(description.buffers)));
      needed.add(test.volume_check);
      for (const id of [...buffers.keys()]) if (!needed.has(id)) buffers.delete(id);
    }, () => {});
  }

  function instructions() {
    const played = test.must_play_all ? ' Play every sound on a page before moving on.' : '';
    const texts = {
      mushra: 'On each page you hear a reference and several versions of the same excerpt in a random order. Rate how '
        + 'each version compares with the reference, from 0 (bad) to 100 (excellent). One version is the reference '
        + 'itself: rate it 100. You can switch between versions while one plays; playback carries on at the same point.',
      mos: test.multi_stimulus
        ? 'On each page you hear several versions of one excerpt. Rate the quality of each from 0 (bad) to 100 (excellent); there is no reference.'
        : 'On each page you hear one excerpt. Rate its overall quality: Excellent, Good, Fair, Poor or Bad.',
      ab: 'On each page you hear two versions, A and B, of the same excerpt. Choose the one you prefer'
        + (test.no_preference ? ', or "no preference" if you have none.' : '.'),
    };
    return texts[test.kind] + played + ' Your ratings are saved after every page; you can close the window and continue later with the same link.';
  }

  function personalLink() {
    const url = new URL(window.location.href);
    url.searchParams.set('listener', listener);
    return url.toString();
  }

  async function welcome() {
    const stored = new URLSearchParams(window.location.search).get('listener') || window.localStorage.getItem(`etude-listener-${test.test_id}`);
    let progress = null;
    if (stored) {
      const result = await patiently(() => request('GET', `api/listeners/${encodeURIComponent(stored)}`));
      if (result.ok) { listener = stored; progress = result.data; }
    }
    if (progress && progress.next >= progress.total) { finish(); return; }
    const begin = (fresh) => async () => {
      startAudio();
      if (fresh) {
        root.querySelectorAll('button').forEach((button) => { button.disabled = true; });
        const result = await patiently(() => request('POST', 'api/listeners', {}));
        if (!result.ok) { failure(result.data ? result.data.error : 'the test could not start'); return; }
        listener = result.data.listener;
        progress = result.data;
      }
      window.localStorage.setItem(`etude-listener-${test.test_id}`, listener);
      window.history.replaceState(null, '', personalLink());
      volumeCheck(progress.next);
    };
    const buttons = progress
      ? [element('button', { id: 'start', onclick: begin(false) }, `Continue (page ${progress.next + 1} of ${progress.total})`),
        element('button', { id: 'start-new', class: 'secondary', onclick: begin(true) }, 'Start as a new listener')]
      : [element('button', { id: 'start', onclick: begin(true) }, 'Start')];
    show(element('p', {}, instructions()), element('p', {}, `${test.pages} pages. Use headphones in a quiet room if you can.`), element('div', { class: 'actions' }, buttons));
  }

  function volumeCheck(next) {
    const go = element('button', { id: 'begin', disabled: true, onclick: () => { player.stop(); item(next); } }, 'Begin');
    const play = element('button', { id: 'volume-play', class: 'play', onclick: async () => {
      player.play(test.volume_check, await buffer(test.volume_check));
      go.disabled = false;
    } }, 'Play');
    player.onchange = () => play.classList.toggle('playing', Boolean(player.voice));
    page(next).catch(() => {});  // start loading the first page while the volume is set
    show(
      element('h2', {}, 'Volume check'),
      element('p', {}, 'Play this excerpt and set your volume to a comfortable level. Keep it there for the whole test.'),
      element('div', { class: 'transport' }, play, element('button', { onclick: () => player.stop() }, 'Stop')),
      element('p', { class: 'link' }, 'To continue later, or on another device, keep this link: ', element('a', { href: personalLink() }, personalLink())),
      element('div', { class: 'actions' }, go),
    );
  }

  function ratingWidgets(description, state, refresh) {
    const scale = test.scale;
    const playButton = (id, label) => element('button', { class: 'play', 'data-stimulus': id, onclick: () => {
      player.play(id, description.buffers[id]);
      state.plays[id] = (state.plays[id] || 0) + 1;
      refresh();
    } }, label);
    if (scale.widget === 'choice') {
      const [first, second] = description.stimuli;
      const option = (value, label) => element('label', { class: 'choice' },
        element('input', { type: 'radio', name: 'choice', value, onchange: () => { state.choice = value; refresh(); } }), label);
      return element('div', { class: 'ab' },
        element('div', { class: 'transport' }, playButton(first, 'Play A'), playButton(second, 'Play B')),
        element('p', {}, 'Which do you prefer?'),
        element('div', { class: 'choices' }, option(first, 'A'), option(second, 'B'), test.no_preference ? option('none', 'No preference') : []));
    }
    if (scale.widget === 'categories') {
      const [id] = description.stimuli;
      const values = scale.labels.map((label, index) => [scale.maximum - index, label]);
      return element('div', { class: 'acr' },
        element('div', { class: 'transport' }, playButton(id, 'Play')),
        element('div', { class: 'choices' }, values.map(([value, label]) => element('label', { class: 'choice' },
          element('input', { type: 'radio', name: 'rating', value, 'data-stimulus': id, onchange: () => { state.ratings[id] = value; refresh(); } }),
          `${value} ${label}`))));
    }
    const columns = description.stimuli.map((id, index) => {
      const readout = element('output', {}, String(state.ratings[id]));
      const slider = element('input', {
        type: 'range', class: 'rating', min: scale.minimum, max: scale.maximum, step: scale.step, value: state.ratings[id],
        'data-stimulus': id, 'aria-label': `rating of sound ${index + 1}`,
        oninput: (event) => { state.ratings[id] = Number(event.target.value); readout.textContent = event.target.value; },
      });
      return element('div', { class: 'column' }, readout, slider, playButton(id, String(index + 1)));
    });
    const labels = element('div', { class: 'labels' }, scale.labels.map((label) => element('span', {}, label)));
    return element('div', { class: 'sliders' }, labels, columns);
  }

  async function item(position) {
    if (position >= test.pages) { finish(); return; }
    show(element('p', { class: 'status' }, 'Loading…'));
    let description;
    try {
      description = await page(position);
    } catch (error) {
      failure(error.message);
      return;
    }
    forgetPagesBefore(position);
    const state = { plays: {}, ratings: {}, choice: null, shownAt: performance.now() };
    if (test.scale.widget === 'slider') for (const id of description.stimuli) state.ratings[id] = test.scale.minimum;
    const playable = [...description.stimuli, ...(description.reference ? [description.reference] : [])];
    const status = element('p', { class: 'status', id: 'status' });
    const submit = element('button', { id: 'submit', disabled: true }, position + 1 === test.pages ? 'Finish' : 'Next');
    const refresh = () => {
      const played = playable.filter((id) => state.plays[id] > 0).length;
      const answered = test.scale.widget === 'choice' ? state.choice !== null
        : description.stimuli.every((id) => state.ratings[id] !== undefined);
      const ready = answered && (!test.must_play_all || played === playable.length);
      submit.disabled = !ready;
      status.textContent = !ready && test.must_play_all && played < playable.length
        ? `Play every sound to continue (${played} of ${playable.length} played).` : '';
      root.querySelectorAll('button.play').forEach((button) => {
        button.classList.toggle('playing', Boolean(player.voice) && player.voice.id === button.dataset.stimulus);
        button.classList.toggle('played', state.plays[button.dataset.stimulus] > 0);
      });
    };
    player.onchange = refresh;
    const transport = element('div', { class: 'transport' });
    if (description.reference) {
      transport.append(element('button', { class: 'play reference', id: 'reference', 'data-stimulus': description.reference, onclick: () => {
        player.play(description.reference, description.buffers[description.reference]);
        state.plays[description.reference] = (state.plays[description.reference] || 0) + 1;
        refresh();
      } }, 'Reference'));
    }
    transport.append(
      element('button', { id: 'stop', onclick: () => player.stop() }, 'Stop'),
      element('label', { class: 'loop' }, element('input', { type: 'checkbox', id: 'loop', checked: player.loop, onchange: (event) => player.setLoop(event.target.checked) }), 'Loop'),
    );
    submit.onclick = () => send(position, description, state, submit, status);
    show(
      element('div', { class: 'progress' }, element('progress', { max: test.pages, value: position }), ` Page ${position + 1} of ${test.pages}`),
      transport,
      ratingWidgets(description, state, refresh),
      element('div', { class: 'actions' }, submit),
      status,
    );
    refresh();
  }

  async function send(position, description, state, submit, status) {
    submit.disabled = true;
    const body = {
      listener,
      play_counts: state.plays,
      seconds_on_page: Math.round(performance.now() - state.shownAt) / 1000,
      ...(test.scale.widget === 'choice' ? { choice: state.choice } : { ratings: state.ratings }),
    };
    status.textContent = 'Saving…';
    const result = await patiently(
      () => request('POST', `api/listeners/${listener}/pages/${position}`, body),
      () => { status.textContent = 'The server cannot be reached; retrying. Your answers on this page are kept.'; },
    );
    if (result.ok || result.status === 409) {
      player.stop();  // fades out before the next page is drawn
      item(result.data.next);
      return;
    }
    status.textContent = `Not saved: ${result.data ? result.data.error : `error ${result.status}`}`;
    submit.disabled = false;
  }

  function finish() {
    if (player) player.stop();
    show(element('h2', { id: 'finished' }, 'Thank you!'), element('p', {}, `All ${test.pages} pages are saved. You can close this window.`));
  }

  function failure(message) {
    show(element('p', { class: 'error', id: 'error' }, message));
  }

  async function main() {
    const result = await patiently(() => request('GET', 'api/test'));
    if (!result.ok) { failure(result.data ? result.data.error : 'the test could not be loaded'); return; }
    test = result.data;
    document.title = test.title;
    await welcome();
  }

  main();
})();
