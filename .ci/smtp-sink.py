#!/usr/bin/env python3
"""A minimal SMTP server for the quickstart smoke test: accepts every message on
127.0.0.1:<port> and writes each one (recipient, subject, decoded text part) to
<dir>/NNN.txt. Standard library only."""
import asyncio
import email
import email.policy
import os
import sys


async def handle(reader, writer, outdir):
    writer.write(b"220 smoke-sink ESMTP\r\n")
    await writer.drain()
    recipients = []
    while True:
        line = await reader.readline()
        if not line:
            break
        command = line.decode(errors="replace").strip()
        upper = command.upper()
        if upper.startswith("EHLO"):
            writer.write(b"250-smoke-sink\r\n250 8BITMIME\r\n")
        elif upper.startswith("RCPT TO"):
            recipients.append(command[8:].strip().strip("<>"))
            writer.write(b"250 OK\r\n")
        elif upper == "DATA":
            writer.write(b"354 go ahead\r\n")
            await writer.drain()
            data = b""
            while True:
                chunk = await reader.readline()
                if chunk in (b".\r\n", b""):
                    break
                if chunk.startswith(b".."):
                    chunk = chunk[1:]
                data += chunk
            message = email.message_from_bytes(data, policy=email.policy.default)
            body = message.get_body(preferencelist=("plain",)).get_content()
            count = len(os.listdir(outdir))
            path = os.path.join(outdir, f"{count:03d}.txt")
            with open(path + ".part", "w") as out:
                out.write(f"To: {','.join(recipients)}\nSubject: {message['subject']}\n\n{body}")
            os.rename(path + ".part", path)
            recipients = []
            writer.write(b"250 OK queued\r\n")
        elif upper == "QUIT":
            writer.write(b"221 bye\r\n")
            await writer.drain()
            break
        else:
            writer.write(b"250 OK\r\n")
        await writer.drain()
    writer.close()


async def main():
    port, outdir = int(sys.argv[1]), sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    server = await asyncio.start_server(lambda r, w: handle(r, w, outdir), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


asyncio.run(main())
