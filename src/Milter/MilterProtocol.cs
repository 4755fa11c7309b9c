namespace Detach.Milter;

/// <summary>Commands the MTA sends (Sendmail's mfdef.h names in the comments).</summary>
public enum MilterCommand : byte
{
    Abort = (byte)'A',              // SMFIC_ABORT: forget the message, keep the connection
    Body = (byte)'B',               // SMFIC_BODY: a body chunk
    Connect = (byte)'C',            // SMFIC_CONNECT: the SMTP client
    Macro = (byte)'D',              // SMFIC_MACRO: macros for the command that follows
    EndOfBody = (byte)'E',          // SMFIC_BODYEOB: end of message, the filter's turn
    Helo = (byte)'H',               // SMFIC_HELO
    QuitNewConnection = (byte)'K',  // SMFIC_QUIT_NC: another SMTP connection follows on this socket
    Header = (byte)'L',             // SMFIC_HEADER: name NUL value NUL
    Mail = (byte)'M',               // SMFIC_MAIL: sender and ESMTP arguments
    EndOfHeaders = (byte)'N',       // SMFIC_EOH
    OptionNegotiation = (byte)'O',  // SMFIC_OPTNEG
    Quit = (byte)'Q',               // SMFIC_QUIT
    Recipient = (byte)'R',          // SMFIC_RCPT
    Data = (byte)'T',               // SMFIC_DATA
    Unknown = (byte)'U',            // SMFIC_UNKNOWN: an SMTP command the MTA did not know
}

/// <summary>What the filter sends back.</summary>
public enum MilterReply : byte
{
    Accept = (byte)'a',             // SMFIR_ACCEPT: accept the message, send no more of it
    ReplaceBody = (byte)'b',        // SMFIR_REPLBODY: a chunk of the new body
    Continue = (byte)'c',           // SMFIR_CONTINUE
    Discard = (byte)'d',            // SMFIR_DISCARD
    AddHeader = (byte)'h',          // SMFIR_ADDHEADER: append a field
    InsertHeader = (byte)'i',       // SMFIR_INSHEADER: insert a field at an index (0 = top)
    ChangeHeader = (byte)'m',       // SMFIR_CHGHEADER: the n-th field of a name; an empty value deletes it
    Progress = (byte)'p',           // SMFIR_PROGRESS: still working, restart your timer
    Reject = (byte)'r',             // SMFIR_REJECT: 5xx
    TempFail = (byte)'t',           // SMFIR_TEMPFAIL: 4xx
    ReplyCode = (byte)'y',          // SMFIR_REPLYCODE: "451 4.3.0 text"
    OptionNegotiation = (byte)'O',  // SMFIC_OPTNEG, the answer to the MTA's offer
}

/// <summary>Changes the filter may make (SMFIF_*), offered by the MTA and requested by the filter.</summary>
[Flags]
public enum MilterActions : uint
{
    None = 0,
    AddHeaders = 0x01,              // SMFIF_ADDHDRS (also SMFIR_INSHEADER)
    ChangeBody = 0x02,              // SMFIF_CHGBODY
    AddRecipients = 0x04,           // SMFIF_ADDRCPT
    DeleteRecipients = 0x08,        // SMFIF_DELRCPT
    ChangeHeaders = 0x10,           // SMFIF_CHGHDRS
    Quarantine = 0x20,              // SMFIF_QUARANTINE
    ChangeFrom = 0x40,              // SMFIF_CHGFROM
    AddRecipientsWithArguments = 0x80, // SMFIF_ADDRCPT_PAR
    SetMacroList = 0x100,           // SMFIF_SETSYMLIST
}

/// <summary>Events the filter does not want (SMFIP_NO*) or will not answer (SMFIP_NR_*), and protocol extensions.</summary>
[Flags]
public enum MilterProtocolOptions : uint
{
    None = 0,
    NoConnect = 0x01,               // SMFIP_NOCONNECT
    NoHelo = 0x02,                  // SMFIP_NOHELO
    NoMail = 0x04,                  // SMFIP_NOMAIL
    NoRecipient = 0x08,             // SMFIP_NORCPT
    NoBody = 0x10,                  // SMFIP_NOBODY
    NoHeaders = 0x20,               // SMFIP_NOHDRS
    NoEndOfHeaders = 0x40,          // SMFIP_NOEOH
    NoHeaderReply = 0x80,           // SMFIP_NR_HDR
    NoUnknown = 0x100,              // SMFIP_NOUNKNOWN
    NoData = 0x200,                 // SMFIP_NODATA
    Skip = 0x400,                   // SMFIP_SKIP: the MTA understands SMFIR_SKIP
    RejectedRecipients = 0x800,     // SMFIP_RCPT_REJ
    NoConnectReply = 0x1000,        // SMFIP_NR_CONN
    NoHeloReply = 0x2000,           // SMFIP_NR_HELO
    NoMailReply = 0x4000,           // SMFIP_NR_MAIL
    NoRecipientReply = 0x8000,      // SMFIP_NR_RCPT
    NoDataReply = 0x10000,          // SMFIP_NR_DATA
    NoUnknownReply = 0x20000,       // SMFIP_NR_UNKN
    NoEndOfHeadersReply = 0x40000,  // SMFIP_NR_EOH
    NoBodyReply = 0x80000,          // SMFIP_NR_BODY
    HeaderLeadingSpace = 0x100000,  // SMFIP_HDR_LEADSPC: header values exactly as after the colon
    MaxData256K = 0x10000000,       // SMFIP_MDS_256K
    MaxData1M = 0x20000000,         // SMFIP_MDS_1M
}

/// <summary>The protocol stages a macro list can be requested for (SMFIM_*), in SMFIR_OPTNEG's macro lists.</summary>
public enum MilterMacroStage : uint
{
    Connect = 0,                    // SMFIM_CONNECT
    Helo = 1,                       // SMFIM_HELO
    Mail = 2,                       // SMFIM_ENVFROM
    Recipient = 3,                  // SMFIM_ENVRCPT
    Data = 4,                       // SMFIM_DATA
    EndOfMessage = 5,               // SMFIM_EOM
    EndOfHeaders = 6,               // SMFIM_EOH
}
