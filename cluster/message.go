package cluster

import (
	"encoding/binary"
	"errors"

	"herald/socketio"
)

// messageVersion is the first byte of every message; a node drops messages
// of another version (counted as invalid), so that nodes of two versions
// never misread each other during a rolling upgrade.
const messageVersion = 1

// errBadMessage is returned for a message that does not decode.
var errBadMessage = errors.New("cluster: malformed message")

// message is one broadcast as it travels between nodes, on one channel.
//
// Rooms are the target rooms up to and including the one whose channel
// carries the message (none on the every-socket channel). The receiver
// delivers to its sockets in the last room that are in none of the earlier
// rooms and none of Except: a socket in several target rooms gets the copy
// of the first one only, without any state kept by the receiver.
type message struct {
	Origin      string
	Rooms       []string
	Except      []string
	Text        []byte // the Socket.IO packet, text form
	Attachments [][]byte
	// Seq is the packet's socketio.Encoded.Seq (a notification's seq), 0
	// if none; written only when set.
	Seq int64
}

// appendMessage appends the binary form of a message: the version byte,
// then each field as a uvarint length (or count) followed by its bytes,
// then seq as a uvarint if it is positive.
func appendMessage(dst []byte, origin string, rooms, except []string, text []byte, atts [][]byte, seq int64) []byte {
	dst = append(dst, messageVersion)
	dst = appendString(dst, origin)
	dst = appendStrings(dst, rooms)
	dst = appendStrings(dst, except)
	dst = binary.AppendUvarint(dst, uint64(len(text)))
	dst = append(dst, text...)
	dst = binary.AppendUvarint(dst, uint64(len(atts)))
	for _, a := range atts {
		dst = binary.AppendUvarint(dst, uint64(len(a)))
		dst = append(dst, a...)
	}
	if seq > 0 {
		dst = binary.AppendUvarint(dst, uint64(seq))
	}
	return dst
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendStrings(dst []byte, list []string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(list)))
	for _, s := range list {
		dst = appendString(dst, s)
	}
	return dst
}

// decodeMessage parses b. Text and Attachments alias b. Every length is
// checked against the bytes that remain before anything is allocated, so a
// hostile message costs at most its own size; the packet text must be
// non-empty and attachments are at most socketio.MaxAttachments.
func decodeMessage(b []byte) (message, error) {
	var m message
	if len(b) == 0 || b[0] != messageVersion {
		return m, errBadMessage
	}
	r := reader{b: b[1:]}
	m.Origin = string(r.bytes())
	m.Rooms = r.strings()
	m.Except = r.strings()
	m.Text = r.bytes()
	n := r.count(socketio.MaxAttachments)
	if n > 0 {
		m.Attachments = make([][]byte, n)
		for i := range m.Attachments {
			m.Attachments[i] = r.bytes()
		}
	}
	if len(r.b) > 0 && !r.err {
		v, n := binary.Uvarint(r.b)
		if n <= 0 || v == 0 || v > 1<<62 {
			return message{}, errBadMessage
		}
		m.Seq, r.b = int64(v), r.b[n:]
	}
	if r.err || len(r.b) != 0 || len(m.Text) == 0 {
		return message{}, errBadMessage
	}
	return m, nil
}

// reader reads the fields of a message; after the first error every read
// returns nothing and err stays set.
type reader struct {
	b   []byte
	err bool
}

// count reads a count of items of at least one byte each, at most max.
func (r *reader) count(max int) int {
	v, n := binary.Uvarint(r.b)
	if r.err || n <= 0 || v > uint64(len(r.b)-n) || v > uint64(max) {
		r.err = true
		return 0
	}
	r.b = r.b[n:]
	return int(v)
}

func (r *reader) bytes() []byte {
	v, n := binary.Uvarint(r.b)
	if r.err || n <= 0 || v > uint64(len(r.b)-n) {
		r.err = true
		return nil
	}
	out := r.b[n : n+int(v) : n+int(v)]
	r.b = r.b[n+int(v):]
	return out
}

func (r *reader) strings() []string {
	// Each string takes at least its one-byte length.
	n := r.count(len(r.b))
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = string(r.bytes())
	}
	return out
}
