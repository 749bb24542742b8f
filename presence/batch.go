package presence

// A batch is many changes of a channel applied one by one that are one
// event for the people watching: the entries of a dead node removed. The
// first change of a quiet channel would go out at once as a diff and a
// count, the rest a window later; held, they go out together at the end.

// hold keeps the channel's diff and count from going out at the first
// change that follows, until release. It holds nothing while a window or
// an interval runs (its end sends all). ch.mu must be held.
func (ch *channel) hold() {
	if d := ch.diff; d != nil && !d.open {
		d.open, d.held = true, true
	}
	if s := ch.count; s != nil && !s.open {
		s.open, s.held = true, true
	}
}

// release ends hold and returns the diff and the count that gathered,
// due now as the first change of a quiet channel is (a window and an
// interval open after them). ch.mu must be held.
func (e *Engine) release(ch *channel) []delivery {
	var ds []delivery
	if d := ch.diff; d != nil && d.held {
		d.open, d.held = false, false
		if dl, ok := e.diffDue(ch); ok {
			ds = append(ds, dl)
		}
	}
	if s := ch.count; s != nil && s.held {
		s.open, s.held = false, false
		if s.dirty {
			s.dirty = false
			if dl, ok := e.countDue(ch); ok {
				ds = append(ds, dl)
			}
		}
	}
	return ds
}

// batch applies apply to each of changes, holding the diffs and counts of
// their channels until all are applied.
func (e *Engine) batch(changes []Change, apply func(Change)) {
	seen := make(map[string]bool)
	var held []string
	for _, chg := range changes {
		if seen[chg.Channel] {
			continue
		}
		seen[chg.Channel] = true
		if ch, _ := e.lock(chg.Channel, false); ch != nil {
			ch.hold()
			ch.mu.Unlock()
			held = append(held, chg.Channel)
		}
	}
	for _, chg := range changes {
		apply(chg)
	}
	for _, name := range held {
		ch, _ := e.lock(name, false)
		if ch == nil {
			continue // freed when its last entry went: nobody to tell
		}
		t := ch.out.push(e.release(ch)...)
		ch.mu.Unlock()
		ch.out.flush(t)
	}
}
