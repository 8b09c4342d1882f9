#!/usr/bin/python3
"""A small AMQP 1.0 broker that answers the way Azure Service Bus does, closely
enough for the azservicebus SDK to send, receive and settle against it.

It exists because no Service Bus emulator can run where the product is built
and tested (see servicebus_standin_test.go). It runs on Debian's
python3-qpid-proton (/usr/bin/python3). It is a test stand-in, not a broker:
one process, everything in memory, any token accepted.

What it reproduces, per queue (created on first use, any name):
  - $cbs put-token and $management requests answered with an int32
    application property status-code and correlation-id = request message-id;
  - a max message size advertised on every link (--max-message-size);
  - batches (one AMQP message whose data sections each hold an encoded
    message) unpacked into their messages;
  - x-opt-sequence-number, x-opt-enqueued-time and x-opt-locked-until
    annotations, the header delivery-count, 16-byte delivery tags as lock
    tokens;
  - scheduled messages (x-opt-scheduled-enqueue-time): accepted and
    de-duplicated at once, delivered from that time on (by the broker's clock);
  - duplicate detection by message-id within --duplicate-window seconds,
    inside one batch too;
  - peek-lock: accepted = complete, modified = abandon (the delivery counts),
    released = give back uncounted, rejected with com.microsoft:dead-letter =
    dead-letter with DeadLetterReason/DeadLetterErrorDescription; a second
    settlement of a lost lock is rejected with com.microsoft:message-lock-lost;
  - locks expire after --lock-duration seconds (real time, or the clock set
    over standard input);
  - past --max-delivery-count deliveries a message moves to
    <queue>/$deadletterqueue with reason MaxDeliveryCountExceeded;
  - $management operations com.microsoft:peek-message,
    com.microsoft:update-disposition and com.microsoft:renew-lock.

Usage: amqpfake.py [--port N] [--max-message-size B] [--lock-duration S]
                   [--max-delivery-count N] [--duplicate-window S]
It prints "LISTENING <port>" once it accepts connections and exits when its
standard input closes. A line "NOW <ms since the epoch>" on standard input
sets its clock (locks, enqueued times, duplicate window) from then on; it
answers "OK <ms>" once the new time has taken effect.
"""

import argparse
import bisect
import os
import sys
import threading
import time
import uuid

from proton import Condition, Data, Delivery, Handler, Message, int32, symbol, timestamp
from proton.reactor import ApplicationEvent, Container, EventInjector

SEQ = symbol("x-opt-sequence-number")
ENQUEUED = symbol("x-opt-enqueued-time")
SCHEDULED = symbol("x-opt-scheduled-enqueue-time")
LOCKED_UNTIL = symbol("x-opt-locked-until")
DLQ_SUFFIX = "/$deadletterqueue"
MGMT_SUFFIX = "/$management"
LOCK_LOST = "com.microsoft:message-lock-lost"
DATA_SECTION = 0x75


def new_tag():
    """A 16-character ASCII delivery tag: proton takes tags as str, and the
    SDK reads a 16-byte tag as the message's lock token."""
    return uuid.uuid4().hex[:16]


def tag_of(lock_token):
    """The delivery tag a lock token (a UUID on $management) stands for."""
    raw = lock_token.bytes if isinstance(lock_token, uuid.UUID) else bytes(lock_token)
    return raw.decode("latin-1")


def sections(raw):
    """Splits an encoded AMQP message into (descriptor, value) sections."""
    out = []
    while raw:
        d = Data()
        n = d.decode(raw)
        if n <= 0:
            raise ValueError("undecodable section")
        d.rewind()
        d.next()
        d.enter()
        d.next()
        desc = d.get_object()
        d.next()
        out.append((desc, d.get_object()))
        raw = raw[n:]
    return out


def looks_encoded(payload):
    """True when payload starts with a described message section."""
    return (isinstance(payload, (bytes, bytearray)) and len(payload) >= 3
            and payload[0] == 0x00 and payload[1] == 0x53 and 0x70 <= payload[2] <= 0x78)


def unpack(raw):
    """Returns the messages a transfer carries: the members of a batch (the
    SDK's batch format, which proton's API does not expose, is recognised by
    its data sections each holding an encoded message), or the one message."""
    try:
        secs = sections(raw)
    except Exception:  # not splittable: let Message.decode judge it
        secs = []
    data = [v for d, v in secs if d == DATA_SECTION]
    if data and all(looks_encoded(v) for v in data):
        msgs = []
        for payload in data:
            m = Message()
            m.decode(bytes(payload))
            msgs.append(m)
        return msgs
    m = Message()
    m.decode(raw)
    return [m]


def scheduled_ms(m):
    """The message's x-opt-scheduled-enqueue-time in ms, or None."""
    at = (m.annotations or {}).get(SCHEDULED)
    if at is None:
        return None
    if hasattr(at, "timestamp") and not isinstance(at, (int, float)):
        return int(at.timestamp() * 1000)  # a datetime
    return int(at)


class Entry:
    def __init__(self, seq, msg, enqueued, deliveries=0):
        self.seq = seq
        self.msg = msg
        self.enqueued = enqueued
        self.deliveries = deliveries  # counted deliveries, this one included
        self.lock = None  # delivery tag while locked
        self.locked_until = 0
        self.delivery = None  # proton delivery holding the lock
        self.dl_reason = None
        self.dl_description = None


class Queue:
    def __init__(self, broker, name, dead_letter):
        self.broker = broker
        self.name = name
        self.dead_letter = dead_letter  # True for the dead-letter sub-queue
        self.entries = {}  # seq -> Entry
        self.available = []  # sorted seqs
        self.seen = {}  # message-id -> time (ms) last accepted
        self.consumers = []  # proton sender links
        self.scheduled = []  # entries waiting for their scheduled enqueue time

    def add(self, entry):
        self.entries[entry.seq] = entry
        bisect.insort(self.available, entry.seq)

    def make_available(self, entry):
        entry.lock = None
        entry.delivery = None
        bisect.insort(self.available, entry.seq)


class Broker(Handler):
    def __init__(self, opts):
        super().__init__()
        self.opts = opts
        self.queues = {}
        self.locks = {}  # delivery tag -> (Queue, Entry)
        self.reply_links = {}  # (connection, address) -> sender link
        self.next_seq = 1
        self.acceptor = None
        self.clock = None  # ms since the epoch once set over stdin; real time until then
        self.injector = EventInjector()

    def now_ms(self):
        return self.clock if self.clock is not None else int(time.time() * 1000)

    # ---- queues -------------------------------------------------------
    def queue(self, address):
        name = address.lower().strip("/")
        dead = name.endswith(DLQ_SUFFIX)
        base = name[: -len(DLQ_SUFFIX)] if dead else name
        if base not in self.queues:
            main = Queue(self, base, False)
            main.dlq = Queue(self, base + DLQ_SUFFIX, True)
            self.queues[base] = main
        main = self.queues[base]
        return main.dlq if dead else main

    def main_of(self, q):
        return self.queues[q.name[: -len(DLQ_SUFFIX)]] if q.dead_letter else q

    def seq(self):
        s = self.next_seq
        self.next_seq += 1
        return s

    def enqueue(self, q, msgs):
        """Adds msgs to q all or nothing, dropping duplicates."""
        now = self.now_ms()
        window = self.opts.duplicate_window * 1000
        for mid in [k for k, t in q.seen.items() if now - t >= window]:
            del q.seen[mid]
        for m in msgs:
            mid = m.id
            if mid is not None:
                mid = str(mid)
                if mid in q.seen:
                    continue
                q.seen[mid] = now
            at = scheduled_ms(m)
            if at is not None and at > now:
                # Accepted and de-duplicated now, delivered from its time on
                # (enqueued then, as Service Bus reports it).
                entry = Entry(self.seq(), m, at)
                q.entries[entry.seq] = entry
                q.scheduled.append(entry)
                continue
            q.add(Entry(self.seq(), m, now))
        self.pump(q)

    def release_scheduled(self):
        now = self.now_ms()
        for q in list(self.queues.values()):
            due = [e for e in q.scheduled if e.enqueued <= now]
            if not due:
                continue
            q.scheduled = [e for e in q.scheduled if e.enqueued > now]
            for e in due:
                q.make_available(e)
            self.pump(q)

    def dead_letter(self, q, entry, reason, description):
        main = self.main_of(q)
        q.entries.pop(entry.seq, None)
        self.unlock(entry)
        dl = Entry(self.seq(), entry.msg, entry.enqueued, entry.deliveries)
        dl.dl_reason, dl.dl_description = reason, description
        main.dlq.add(dl)
        self.pump(main.dlq)

    def unlock(self, entry):
        """Drops entry's lock. The transfer stays unsettled: a client that
        settles it later must hear that the lock is lost, and a settled
        transfer would leave it waiting for an answer that never comes."""
        if entry.lock is not None:
            self.locks.pop(entry.lock, None)
        entry.lock = None
        entry.delivery = None

    def give_back(self, q, entry, counted):
        """Returns a locked message to q; a counted delivery may push it past
        the maximum delivery count, which dead-letters it."""
        if not counted:
            entry.deliveries -= 1
        self.unlock(entry)
        if not q.dead_letter and entry.deliveries >= self.opts.max_delivery_count:
            self.dead_letter(q, entry, "MaxDeliveryCountExceeded",
                             "Message could not be consumed after %d delivery attempts." % entry.deliveries)
            return
        q.make_available(entry)
        self.pump(q)

    def expire_locks(self):
        now = self.now_ms()
        for q, entry in list(self.locks.values()):
            if entry.locked_until <= now:
                self.give_back(q, entry, True)

    def outgoing(self, entry, locked_until):
        src = entry.msg
        m = Message()
        m.decode(src.encode())
        # The header counts earlier deliveries, as Service Bus sends it; the
        # SDK adds one, so it reports the deliveries so far.
        m.delivery_count = max(entry.deliveries - 1, 0)
        ann = dict(m.annotations or {})
        ann[SEQ] = entry.seq
        ann[ENQUEUED] = timestamp(entry.enqueued)
        if locked_until:
            ann[LOCKED_UNTIL] = timestamp(locked_until)
        m.annotations = ann
        if entry.dl_reason is not None:
            props = dict(m.properties or {})
            props["DeadLetterReason"] = entry.dl_reason
            props["DeadLetterErrorDescription"] = entry.dl_description or ""
            m.properties = props
        return m

    def pump(self, q):
        """Delivers available messages to consumers with credit, in order."""
        progress = True
        while q.available and progress:
            progress = False
            for link in list(q.consumers):
                if not q.available:
                    break
                if link.credit <= 0 or link.state & link.LOCAL_CLOSED:
                    continue
                seq = q.available.pop(0)
                entry = q.entries[seq]
                token = new_tag()
                until = self.now_ms() + int(self.opts.lock_duration * 1000)
                entry.deliveries += 1
                data = self.outgoing(entry, until).encode()
                dlv = link.delivery(token)
                link.send(data)
                link.advance()
                entry.lock, entry.locked_until, entry.delivery = token, until, dlv
                self.locks[token] = (q, entry)
                progress = True
        for link in q.consumers:
            if link.drain_mode:
                link.drained()

    # ---- connection plumbing -------------------------------------------
    def on_reactor_init(self, event):
        self.acceptor = event.container.listen("127.0.0.1:%d" % self.opts.port)
        port = self.opts.port
        try:
            port = self.acceptor._selectable._delegate.getsockname()[1]
        except AttributeError:
            pass
        event.container.selectable(self.injector)
        print("LISTENING %d" % port, flush=True)
        event.container.schedule(1.0, self)

    def on_clock(self, event):
        """Sets the broker's clock (a test's fake clock) and applies it at
        once: expired locks give their messages back, or dead-letter them."""
        self.clock = event.subject
        self.expire_locks()
        self.release_scheduled()
        print("OK %d" % self.clock, flush=True)

    def on_timer_task(self, event):
        self.expire_locks()
        self.release_scheduled()
        event.container.schedule(1.0, self)

    def on_connection_remote_open(self, event):
        if event.connection.state & event.connection.LOCAL_UNINIT:
            event.connection.open()

    def on_connection_remote_close(self, event):
        conn = event.connection
        for key in [k for k in self.reply_links if k[0] is conn]:
            del self.reply_links[key]
        for q in self.all_queues():
            q.consumers = [l for l in q.consumers if l.connection is not conn]
        event.connection.close()

    def on_session_remote_open(self, event):
        if event.session.state & event.session.LOCAL_UNINIT:
            event.session.open()

    def on_session_remote_close(self, event):
        event.session.close()

    def all_queues(self):
        for q in self.queues.values():
            yield q
            yield q.dlq

    def on_link_remote_open(self, event):
        link = event.link
        if not link.state & link.LOCAL_UNINIT:
            return
        src, tgt = link.remote_source.address, link.remote_target.address
        link.source.address = src
        link.target.address = tgt
        link.snd_settle_mode = link.remote_snd_settle_mode
        link.rcv_settle_mode = link.remote_rcv_settle_mode
        link.max_message_size = self.opts.max_message_size
        link.open()
        if link.is_sender:
            addr = src or ""
            if addr == "$cbs" or addr.lower().endswith(MGMT_SUFFIX):
                self.reply_links[(link.connection, tgt)] = link
            else:
                q = self.queue(addr)
                q.consumers.append(link)
                self.pump(q)
        else:
            link.flow(100)

    def on_link_remote_close(self, event):
        link = event.link
        for q in self.all_queues():
            if link in q.consumers:
                q.consumers.remove(link)
        for key in [k for k, l in self.reply_links.items() if l is link]:
            del self.reply_links[key]
        link.close()

    def on_link_flow(self, event):
        link = event.link
        if link.is_sender:
            for q in self.all_queues():
                if link in q.consumers:
                    self.pump(q)
                    return
            if link.drain_mode:
                link.drained()

    def on_delivery(self, event):
        dlv, link = event.delivery, event.link
        if link.is_sender:
            self.on_settlement(dlv)
            return
        if not dlv.readable or dlv.partial:
            return
        raw = link.recv(dlv.pending)
        link.advance()
        if link.credit < 50:
            link.flow(100)
        addr = (link.target.address or "")
        try:
            if addr == "$cbs" or addr.lower().endswith(MGMT_SUFFIX):
                msg = Message()
                msg.decode(raw)
                self.request(link, addr, msg)
            elif len(raw) > self.opts.max_message_size:
                dlv.local.condition = Condition("amqp:link:message-size-exceeded",
                                                "message of %d bytes exceeds %d" % (len(raw), self.opts.max_message_size))
                dlv.update(Delivery.REJECTED)
                dlv.settle()
                return
            else:
                self.enqueue(self.queue(addr), unpack(raw))
        except Exception as e:  # a malformed transfer fails that transfer only
            dlv.local.condition = Condition("amqp:decode-error", str(e))
            dlv.update(Delivery.REJECTED)
            dlv.settle()
            return
        dlv.update(Delivery.ACCEPTED)
        dlv.settle()

    # ---- settlement ----------------------------------------------------
    def on_settlement(self, dlv):
        if not dlv.updated or getattr(dlv, "done", False):
            return
        state = dlv.remote_state
        if state not in (Delivery.ACCEPTED, Delivery.REJECTED, Delivery.RELEASED, Delivery.MODIFIED):
            return
        dlv.done = True
        held = self.locks.get(dlv.tag)
        if held is None:
            dlv.local.condition = Condition(LOCK_LOST, "the lock supplied is invalid: it expired or the message was settled")
            dlv.update(Delivery.REJECTED)
            dlv.settle()
            return
        q, entry = held
        if state == Delivery.ACCEPTED:
            self.complete(q, entry)
        elif state == Delivery.RELEASED:
            self.give_back(q, entry, False)
        elif state == Delivery.MODIFIED:
            self.give_back(q, entry, True)
        else:
            cond = dlv.remote.condition
            info = (cond.info if cond is not None else None) or {}
            if cond is not None and cond.name == "com.microsoft:dead-letter":
                self.dead_letter(q, entry, str(info.get("DeadLetterReason", "")),
                                 str(info.get("DeadLetterErrorDescription", "")))
            else:  # a plain reject is an abandon to Service Bus
                self.give_back(q, entry, True)
        if not dlv.settled:
            dlv.settle()

    def complete(self, q, entry):
        q.entries.pop(entry.seq, None)
        self.unlock(entry)

    # ---- $cbs and $management -------------------------------------------
    def request(self, link, addr, req):
        props = req.properties or {}
        op = props.get("operation")
        status, desc, body = 200, "OK", None
        if addr != "$cbs":
            q = self.queue(addr[: -len(MGMT_SUFFIX)])
            val = req.body if isinstance(req.body, dict) else {}
            val = {str(k): v for k, v in val.items()}
            if op == "com.microsoft:peek-message":
                status, body = self.peek(q, int(val.get("from-sequence-number", 0)), int(val.get("message-count", 1)))
            elif op == "com.microsoft:update-disposition":
                status, desc = self.update_disposition(q, val)
            elif op == "com.microsoft:renew-lock":
                status, desc, body = self.renew(val)
            else:
                status, desc = 501, "operation %s is not implemented by the stand-in" % op
        reply = Message(body=body, correlation_id=req.id, address=req.reply_to,
                        properties={"status-code": int32(status), "status-description": desc})
        out = self.reply_links.get((link.connection, req.reply_to))
        if out is None:
            return
        d = out.delivery(new_tag())
        out.send(reply.encode())
        out.advance()
        d.settle()

    def peek(self, q, start, count):
        seqs = sorted(s for s in q.entries if s >= start)[: max(count, 0)]
        if not seqs:
            return 204, None
        msgs = [{"message": self.outgoing(q.entries[s], 0).encode()} for s in seqs]
        return 200, {"messages": msgs}

    def update_disposition(self, q, val):
        status = str(val.get("disposition-status", ""))
        tokens = val.get("lock-tokens") or []
        for t in tokens:
            token = tag_of(t)
            held = self.locks.get(token)
            if held is None:
                return 410, "the lock supplied is invalid: it expired or the message was settled"
            lq, entry = held
            if entry.delivery is not None:
                entry.delivery.settle()
            if status == "completed":
                self.complete(lq, entry)
            elif status == "abandoned":
                self.give_back(lq, entry, True)
            elif status == "suspended":
                self.dead_letter(lq, entry, str(val.get("deadletter-reason", "")),
                                 str(val.get("deadletter-description", "")))
            else:
                return 501, "disposition %s is not implemented by the stand-in" % status
        return 200, "OK"

    def renew(self, val):
        out = []
        until = self.now_ms() + int(self.opts.lock_duration * 1000)
        for t in val.get("lock-tokens") or []:
            token = tag_of(t)
            held = self.locks.get(token)
            if held is None:
                return 410, "the lock supplied is invalid", None
            held[1].locked_until = until
            out.append(timestamp(until))
        return 200, "OK", {"expirations": out}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--max-message-size", type=int, default=256 * 1024)
    p.add_argument("--lock-duration", type=float, default=60)
    p.add_argument("--max-delivery-count", type=int, default=10)
    p.add_argument("--duplicate-window", type=float, default=600)
    opts = p.parse_args()

    broker = Broker(opts)

    def watch_stdin():
        for line in sys.stdin:
            parts = line.split()
            if len(parts) == 2 and parts[0] == "NOW":
                broker.injector.trigger(ApplicationEvent("clock", subject=int(parts[1])))
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    Container(broker).run()


if __name__ == "__main__":
    main()
