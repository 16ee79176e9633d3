// The useAuth the seed's useSocket imports: the signed-in user's token.
import { createContext, useContext } from 'react';

export const AuthContext = createContext<{ token: string | null }>({ token: null });

export function useAuth(): { token: string | null } {
  return useContext(AuthContext);
}
