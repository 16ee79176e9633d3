package emitter

import (
	"bytes"
	"encoding/json"
	"errors"

	"herald/socketio"
)

// Why a message was refused; each is a value of the result label of
// herald_emitter_messages_total.
var (
	errTooLarge    = errors.New("too_large")
	errReserved    = errors.New("reserved_event")
	errNamespace   = errors.New("other_namespace")
	errUnsupported = errors.New("unsupported")
	errRefused     = errors.New("refused_room")
	errMalformed   = errors.New("malformed")
)

// Broadcast is an emit of @socket.io/redis-emitter (or of a socket.io
// server's redis adapter): msgpack [uid, packet, opts] with packet
// {type: 2, data: [event, ...args], nsp} and opts {rooms, except, flags}.
type Broadcast struct {
	Event  string
	Rooms  []string // none: every socket of the namespace
	Except []string
	// Packet is the Socket.IO event packet for namespace "/", encoded once;
	// binary arguments are its attachments.
	Packet *socketio.Encoded
}

// DecodeBroadcast decodes and checks one broadcast message. The packet's
// namespace must be "/" (else errNamespace); the event must not be one of
// Socket.IO's reserved names (errReserved); an ack request (packet id) is
// errUnsupported; anything else not as described is errMalformed. Unknown
// keys of opts and flags are ignored, as socket.io's adapter ignores them.
func DecodeBroadcast(b []byte) (*Broadcast, error) {
	r := &reader{b: b}
	_, k, n, err := r.head()
	if err != nil || k != kindArray || n != 3 {
		return nil, errMalformed
	}
	if err := r.skip(0); err != nil { // uid: who sent it; herald is never the sender
		return nil, err
	}
	out := &Broadcast{}
	var data *jsonWriter
	var nsp string
	var typ int64 = -1
	_, k, n, err = r.head()
	if err != nil || k != kindMap {
		return nil, errMalformed
	}
	for range n {
		key, err := r.str()
		if err != nil {
			return nil, err
		}
		switch key {
		case "type":
			if typ, err = r.int(); err != nil {
				return nil, err
			}
		case "nsp":
			if nsp, err = r.str(); err != nil {
				return nil, err
			}
		case "data":
			if data, out.Event, err = r.eventData(); err != nil {
				return nil, err
			}
		case "id":
			return nil, errUnsupported // acknowledgements
		default:
			if err := r.skip(1); err != nil {
				return nil, err
			}
		}
	}
	if typ != int64(socketio.PacketEvent) && typ != int64(socketio.PacketBinaryEvent) || data == nil {
		return nil, errMalformed
	}
	_, k, n, err = r.head()
	if err != nil || k != kindMap {
		return nil, errMalformed
	}
	for range n {
		key, err := r.str()
		if err != nil {
			return nil, err
		}
		switch key {
		case "rooms":
			out.Rooms, err = r.strings()
		case "except":
			out.Except, err = r.strings()
		case "flags": // volatile, compress: nothing to do here
			if r.left() > 0 && r.b[r.off] != 0xc0 && !isMap(r.b[r.off]) {
				return nil, errMalformed
			}
			err = r.skip(1)
		default:
			err = r.skip(1)
		}
		if err != nil {
			return nil, err
		}
	}
	if r.left() != 0 {
		return nil, errMalformed
	}
	if nsp != "/" {
		return nil, errNamespace
	}
	if socketio.Reserved(out.Event) {
		return nil, errReserved
	}
	p := socketio.Packet{Type: socketio.PacketEvent, Namespace: "/", Data: data.dst}
	if len(data.atts) > 0 {
		p.Type, p.Attachments = socketio.PacketBinaryEvent, len(data.atts)
	}
	out.Packet = socketio.NewEncoded(p.Append(nil), data.atts)
	return out, nil
}

// isMap reports whether c starts a map.
func isMap(c byte) bool { return c >= 0x80 && c <= 0x8f || c == 0xde || c == 0xdf }

// eventData reads the data array [event, ...args] as the JSON array of the
// Socket.IO packet; the event is a string.
func (r *reader) eventData() (*jsonWriter, string, error) {
	start := r.off
	_, k, n, err := r.head()
	if err != nil || k != kindArray || n == 0 {
		return nil, "", errMalformed
	}
	event, err := r.str()
	if err != nil || event == "" {
		return nil, "", errMalformed
	}
	r.off = start
	w := &jsonWriter{dst: make([]byte, 0, min(r.left(), 4096)+16)}
	if err := r.json(w, 1); err != nil {
		return nil, "", err
	}
	return w, event, nil
}

// Request types of socket.io's redis adapter that the emitter sends.
const (
	requestJoin       = 2 // socketsJoin
	requestLeave      = 3 // socketsLeave
	requestDisconnect = 4 // disconnectSockets
)

// Request is a socketsJoin, socketsLeave or disconnectSockets of the
// emitter, sent as JSON on the request channel.
type Request struct {
	Type int `json:"type"`
	Opts struct {
		Rooms  []string `json:"rooms"`
		Except []string `json:"except"`
	} `json:"opts"`
	Rooms []string `json:"rooms"` // to join or leave
	Close bool     `json:"close"` // disconnectSockets(true): close the connection too
}

// DecodeRequest decodes and checks one request. Other request types
// (serverSideEmit, fetchSockets, ...: they need a reply or a server-side
// handler) are errUnsupported; join and leave need at least one room.
func DecodeRequest(b []byte) (*Request, error) {
	var req Request
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(&req); err != nil || d.More() {
		return nil, errMalformed
	}
	switch req.Type {
	case requestJoin, requestLeave:
		if len(req.Rooms) == 0 {
			return nil, errMalformed
		}
	case requestDisconnect:
	default:
		return nil, errUnsupported
	}
	return &req, nil
}
