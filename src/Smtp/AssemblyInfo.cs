namespace Detach.Smtp;
