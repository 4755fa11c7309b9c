-- A plain message accepted at end of headers, then a second message on the same connection after an abort.
conn = mt.connect("inet:" .. port .. "@127.0.0.1", 10, 0.2)
if conn == nil then error("cannot connect to the milter") end
if mt.conninfo(conn, "client.example.test", "192.0.2.10") ~= nil then error("conninfo failed") end
for i = 1, 2 do
  if mt.mailfrom(conn, "<ann@example.test>") ~= nil then error("mailfrom failed") end
  if mt.rcptto(conn, "<bob@example.test>") ~= nil then error("rcptto failed") end
  if mt.header(conn, "Subject", " plain") ~= nil then error("header failed") end
  if mt.eoh(conn) ~= nil then error("eoh failed") end
  if mt.getreply(conn) ~= SMFIR_ACCEPT then error("plain mail: expected accept at end of headers") end
  if mt.abort(conn) ~= nil then error("abort failed") end
end
mt.disconnect(conn)
mt.echo("plain: ok")
