import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FakeClock } from '../../../src/base/fake-clock.js';
import { EventDebouncer, eventsBetween } from '../../../src/cluster/membership/events.js';
import type { MemberView, MembershipEventType } from '../../../src/cluster/membership/events.js';

const meta1 = new Uint8Array([1]);
const v = (state: MemberView['state'], suspect = false, metaBytes = meta1, address = 'a:1'): MemberView => ({ state, suspect, metaBytes, address });

describe('consumer events', () => {
  test('the events between two views', () => {
    const cases: Array<[MemberView | undefined, MemberView, MembershipEventType[]]> = [
      [undefined, v('alive'), ['joined']],
      [undefined, v('alive', true), ['joined', 'suspect']],
      [undefined, v('unreachable'), ['joined', 'unreachable']],
      [v('alive'), v('alive', true), ['suspect']],
      [v('alive', true), v('alive'), ['reachable']],
      [v('alive', true), v('unreachable'), ['unreachable']],
      [v('unreachable'), v('alive'), ['reachable']],
      [v('alive'), v('removed'), ['removed']],
      [v('removed'), v('alive'), ['joined']],
      [v('alive'), v('alive', false, new Uint8Array([2])), ['updated']],
      [v('alive'), v('alive', false, new Uint8Array([1])), []],
      [v('alive'), v('alive', false, meta1, 'b:2'), ['updated']],
      [v('alive'), v('alive'), []],
    ];
    for (const [before, after, want] of cases) {
      assert.deepEqual(eventsBetween(before, after), want, `${JSON.stringify(before)} → ${JSON.stringify(after)}`);
    }
  });

  function harness(delay = 500, maxDelay = 3000) {
    const clock = new FakeClock();
    const views = new Map<string, MemberView>();
    const fired: Array<[string, MembershipEventType]> = [];
    const d = new EventDebouncer(clock, delay, maxDelay, (id) => views.get(id), (id, type) => fired.push([id, type]));
    const set = (id: string, view: MemberView): void => {
      views.set(id, view);
      d.changed(id);
    };
    return { clock, views, fired, d, set };
  }

  test('a suspicion refuted within the window fires nothing', () => {
    const h = harness();
    h.set('x', v('alive'));
    h.clock.advance(1000);
    assert.deepEqual(h.fired, [['x', 'joined']]);
    h.set('x', v('alive', true));
    h.clock.advance(200);
    h.set('x', v('alive'));
    h.clock.advance(1000);
    assert.deepEqual(h.fired, [['x', 'joined']]);
  });

  test('a change is reported once the member has been quiet for the delay', () => {
    const h = harness();
    h.set('x', v('alive'));
    h.clock.advance(499);
    assert.deepEqual(h.fired, []);
    h.clock.advance(1);
    assert.deepEqual(h.fired, [['x', 'joined']]);
    h.set('x', v('unreachable'));
    h.clock.advance(500);
    assert.deepEqual(h.fired.at(-1), ['x', 'unreachable']);
  });

  test('a member that keeps flapping is still reported within the maximum delay', () => {
    const h = harness(500, 3000);
    h.set('x', v('alive'));
    h.clock.advance(600);
    // A new metadata every 300 ms, faster than the 500 ms debounce: without the cap nothing would ever fire.
    for (let i = 2; i < 14; i++) {
      h.set('x', v('alive', false, new Uint8Array([i])));
      h.clock.advance(300);
    }
    assert.deepEqual(h.fired, [
      ['x', 'joined'],
      ['x', 'updated'],
    ]);
  });

  test('a forgotten member is not reported', () => {
    const h = harness();
    h.set('x', v('alive'));
    h.views.delete('x');
    h.d.forget('x');
    h.clock.advance(1000);
    assert.deepEqual(h.fired, []);
  });
});
