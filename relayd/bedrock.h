/*
 * bedrock: Claude on AWS Bedrock (InvokeModel), the `bedrock` channel type's format (format.h).
 *   Its bodies and stream events are Anthropic's, so the claude adapter converts them for every
 *   client format and an Anthropic client is served natively (format_bedrock.native_for); what is
 *   Bedrock's own is here: the URL (/model/MODEL_ID/invoke and /invoke-with-response-stream, the
 *   model id URI-encoded), the body fix-up (no "model", no "stream", anthropic_version
 *   "bedrock-2023-05-31"), the SigV4 signature of every request, and the stream's binary framing
 *   (application/vnd.amazon.eventstream) read back into Anthropic's SSE events.
 * The key, the path and the SigV4 signature are common/sigv4.h's (gwctl channel test signs too).
 * Callers: attempt.c and monitor.c through the format ops (write_request, sign, unframe),
 *   formats.c (format_of_api), tests/unit.
 * Never: keeps state, logs or returns a key or secret in an error, touches sockets or clocks (the
 *   caller passes the time).
 */
#ifndef RELAY_BEDROCK_H
#define RELAY_BEDROCK_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define BEDROCK_FRAME_MAX ((size_t)16 << 20)   /* a frame's total length (botocore: 16 MiB payloads) */
#define BEDROCK_HEADERS_MAX ((size_t)128 << 10) /* its headers' (botocore/eventstream.py: 128 KiB) */

/* Moves the whole event-stream frames at the front of in out of it, each appended to out as an
 * Anthropic SSE event: a `chunk` event's bytes (base64 of one Anthropic event) as that event, an
 * `exception` or `error` message as Anthropic's error event. 0, or -1 with *why (a static phrase,
 * "it sent ...") on a frame that cannot be read (a CRC that does not match, lengths out of bounds,
 * a chunk that is not base64 of an Anthropic event): the stream cannot go on. */
int bedrock_unframe(struct buf *in, struct buf *out, const char **why);

#endif
