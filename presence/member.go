package presence

import "bytes"

// Member is someone present: an id, a display name and opaque info (sgc:
// text; Pusher: the user_info JSON). A member may be present through several
// connections; the engine treats its entries as one member per channel,
// deduplicated by ID. Info is read-only once given to the engine.
type Member struct {
	ID   string
	Name string
	Info []byte
}

// Equal reports whether m and o have the same id, name and info.
func (m Member) Equal(o Member) bool {
	return m.ID == o.ID && m.Name == o.Name && bytes.Equal(m.Info, o.Info)
}
