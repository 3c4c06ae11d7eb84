// The live feed: GET /api/v1/live, Server-Sent Events (docs/dashboard.md).
//
// EventSource reconnects by itself after a dropped connection (the server
// sends `retry: 2000`), but gives up for good when an answer is not a
// text/event-stream (a 503, a proxy's error page): then a new EventSource is
// made after a growing pause. onState('open', reconnected) tells when the
// feed is up, so callers can reload what they may have missed meanwhile.

const EVENTS = ['window', 'alert', 'recent', 'stats'];

export class Live {
  // handlers: {window(record), alert(record), recent(data), stats(data),
  // state('connecting'|'open'|'down', reconnected)}.
  constructor(url, handlers) {
    this.url = url;
    this.handlers = handlers;
    this.source = null;
    this.wasOpen = false;
    this.pause = 2000;
  }

  start() {
    this.handlers.state?.('connecting', false);
    const source = new EventSource(this.url);
    this.source = source;
    source.addEventListener('open', () => {
      this.pause = 2000;
      this.handlers.state?.('open', this.wasOpen);
      this.wasOpen = true;
    });
    for (const name of EVENTS) {
      source.addEventListener(name, (e) => {
        let data;
        try {
          data = JSON.parse(e.data);
        } catch {
          return;  // not JSON: skip it, as the server would skip a bad record
        }
        this.handlers[name]?.(data);
      });
    }
    source.addEventListener('error', () => {
      this.handlers.state?.('down', false);
      if (source.readyState !== EventSource.CLOSED) return;  // it retries by itself
      source.close();
      setTimeout(() => this.start(), this.pause);
      this.pause = Math.min(this.pause * 2, 30_000);
    });
  }
}
