-- Drives the test milter (MiltertestTests) as an MTA would: one message with a header set, checking every reply
-- and every change it asks for at end of message. Run as: miltertest -D port=NNNN -s edits.lua
conn = mt.connect("inet:" .. port .. "@127.0.0.1", 10, 0.2)
if conn == nil then error("cannot connect to the milter") end

if mt.negotiate(conn, nil, nil, nil) ~= nil then error("negotiation failed") end
if not mt.test_option(conn, SMFIP_NR_HDR) then error("no SMFIP_NR_HDR: every header would cost a round trip") end
if not mt.test_option(conn, SMFIP_HDR_LEADSPC) then error("no SMFIP_HDR_LEADSPC") end
if mt.test_option(conn, SMFIP_NR_EOH) then error("SMFIP_NR_EOH: the milter could not answer at end of headers") end
if not mt.test_action(conn, SMFIF_CHGBODY) then error("no SMFIF_CHGBODY") end

if mt.conninfo(conn, "client.example.test", "192.0.2.10") ~= nil then error("conninfo failed") end
mt.macro(conn, SMFIC_MAIL, "{auth_authen}", "ann", "i", "QID1")
if mt.mailfrom(conn, "<ann@example.test>") ~= nil then error("mailfrom failed") end
if mt.rcptto(conn, "<bob@example.test>") ~= nil then error("rcptto failed") end
if mt.header(conn, "Subject", " original") ~= nil then error("header failed") end
if mt.header(conn, "X-Remove", " me") ~= nil then error("header failed") end
if mt.eoh(conn) ~= nil then error("eoh failed") end
if mt.getreply(conn) ~= SMFIR_CONTINUE then error("end of headers: expected continue") end
if mt.bodystring(conn, "old body\r\n") ~= nil then error("body failed") end
if mt.eom(conn) ~= nil then error("eom failed") end
if mt.getreply(conn) ~= SMFIR_ACCEPT then error("end of message: expected accept") end

if not mt.eom_check(conn, MT_HDRINSERT, "X-Test", " inserted") then error("no X-Test inserted") end
if not mt.eom_check(conn, MT_HDRCHANGE, "Subject", " changed") then error("Subject not changed") end
if not mt.eom_check(conn, MT_HDRDELETE, "X-Remove") then error("X-Remove not deleted") end
if not mt.eom_check(conn, MT_HDRADD, "X-Added", " added") then error("X-Added not added") end
if not mt.eom_check(conn, MT_BODYCHANGE, "new body\r\n") then error("body not replaced") end

mt.disconnect(conn)
mt.echo("edits: ok")
