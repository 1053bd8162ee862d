import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import { tagList, type Whoami } from '../api-types.ts';

/**
 * What the logged-in user's tags let it do, by RabbitMQ's rules. The API enforces them; the page follows
 * them so that it offers only what will work (no calls that are bound to be refused).
 */
export interface Capabilities {
  name: string;
  /** `administrator`: users, vhosts, permissions, and closing anyone's connection. */
  administrator: boolean;
  /** `administrator` or `monitoring`: nodes and alarms, every connection and channel. */
  monitor: boolean;
}

/** The tags that open the management API at all (others are refused with `Not management user`). */
export const MANAGEMENT_TAGS: readonly string[] = [
  'administrator',
  'monitoring',
  'management',
  'policymaker',
];

export function isManagementUser(whoami: Whoami): boolean {
  return tagList(whoami.tags).some((t) => MANAGEMENT_TAGS.includes(t));
}

export function capabilitiesOf(whoami: Whoami): Capabilities {
  const tags = tagList(whoami.tags);
  const administrator = tags.includes('administrator');
  return { name: whoami.name, administrator, monitor: administrator || tags.includes('monitoring') };
}

export const CapabilitiesContext = createContext<Capabilities>({
  name: '',
  administrator: false,
  monitor: false,
});

export function useCapabilities(): Capabilities {
  return useContext(CapabilitiesContext);
}
