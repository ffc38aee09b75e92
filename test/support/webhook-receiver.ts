// The receiving end of an Alertmanager webhook (payload version 4) inside the test: every
// notification is kept, in the order it arrived.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One alert of a notification. */
export interface NotifiedAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
}

/** One webhook POST from Alertmanager. */
export interface Notification {
  version: string;
  status: 'firing' | 'resolved';
  receiver: string;
  groupLabels: Record<string, string>;
  alerts: NotifiedAlert[];
}

export interface WebhookReceiver {
  url: string;
  notifications: Notification[];
  /** Every alert of every notification so far, flattened. */
  alerts(): NotifiedAlert[];
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const notifications: Notification[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      if (req.method === 'POST') {
        try {
          notifications.push(JSON.parse(body) as Notification);
        } catch {
          res.writeHead(400).end();
          return;
        }
      }
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`,
    notifications,
    alerts: () => notifications.flatMap((n) => n.alerts),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
