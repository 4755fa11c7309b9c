-- miltertest against detach's milter: plain mail is accepted at end of headers, text/plain is read to the end
-- and left alone, an attachment is taken out (header note added, body replaced).
-- A signed message keeps its body (a changed byte breaks the signature) and gets only the X-Detach note.
-- Run as: miltertest -D port=NNNN -D attachment=/path/body.eml -D signed=/path/signed.eml -s detach.lua
conn = mt.connect("inet:" .. port .. "@127.0.0.1", 20, 0.25)
if conn == nil then error("cannot connect to detach's milter") end
if mt.conninfo(conn, "client.example.test", "192.0.2.10") ~= nil then error("conninfo failed") end

local function envelope(subject)
  if mt.mailfrom(conn, "<ann@example.test>") ~= nil then error("mailfrom failed") end
  if mt.rcptto(conn, "<bob@example.test>") ~= nil then error("rcptto failed") end
  if mt.header(conn, "From", " ann@example.test") ~= nil then error("header failed") end
  if mt.header(conn, "Subject", " " .. subject) ~= nil then error("header failed") end
  if mt.header(conn, "MIME-Version", " 1.0") ~= nil then error("header failed") end
end

-- 1. HTML alone: nothing to detach can be in it, so the body is not even asked for.
envelope("html")
if mt.header(conn, "Content-Type", " text/html; charset=utf-8") ~= nil then error("header failed") end
if mt.eoh(conn) ~= nil then error("eoh failed") end
if mt.getreply(conn) ~= SMFIR_ACCEPT then error("html: expected accept at end of headers") end
mt.abort(conn)

-- 2. Plain text may hold uuencoded files: read to the end, then accepted unchanged.
envelope("text")
if mt.header(conn, "Content-Type", " text/plain; charset=us-ascii") ~= nil then error("header failed") end
if mt.eoh(conn) ~= nil then error("eoh failed") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("text: expected continue at end of headers") end
if mt.bodystring(conn, "Hello,\r\nnothing attached.\r\n") ~= nil then error("body failed") end
if mt.eom(conn) ~= nil then error("eom failed") end
if mt.getreply(conn) ~= SMFIR_ACCEPT then error("text: expected accept") end
if mt.eom_check(conn, MT_BODYCHANGE) then error("text: the body was changed") end
if mt.eom_check(conn, MT_HDRINSERT) or mt.eom_check(conn, MT_HDRADD) or mt.eom_check(conn, MT_HDRCHANGE) then error("text: a header was changed") end
mt.abort(conn)

-- 3. An attachment: stored, replaced by a link; the X-Detach note goes on top.
envelope("file")
if mt.header(conn, "Content-Type", " multipart/mixed; boundary=\"b\"") ~= nil then error("header failed") end
if mt.eoh(conn) ~= nil then error("eoh failed") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("file: expected continue at end of headers") end
if mt.bodyfile(conn, attachment) ~= nil then error("bodyfile failed") end
if mt.eom(conn) ~= nil then error("eom failed") end
if mt.getreply(conn) ~= SMFIR_ACCEPT then error("file: expected accept") end
if not mt.eom_check(conn, MT_BODYCHANGE) then error("file: body not replaced") end
if not mt.eom_check(conn, MT_HDRINSERT, "X-Detach") then error("file: no X-Detach on top") end

mt.abort(conn)

-- 4. Signed, with an attachment inside: the note alone, on top; the body stays as it is.
envelope("signed")
if mt.header(conn, "Content-Type", " multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=\"s\"") ~= nil then error("header failed") end
if mt.eoh(conn) ~= nil then error("eoh failed") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("signed: expected continue at end of headers") end
if mt.bodyfile(conn, signed) ~= nil then error("bodyfile failed") end
if mt.eom(conn) ~= nil then error("eom failed") end
if mt.getreply(conn) ~= SMFIR_ACCEPT then error("signed: expected accept") end
if mt.eom_check(conn, MT_BODYCHANGE) then error("signed: the body was changed") end
if not mt.eom_check(conn, MT_HDRINSERT, "X-Detach", " skipped (signed message)") then error("signed: no X-Detach note") end

mt.disconnect(conn)
mt.echo("detach: ok")
